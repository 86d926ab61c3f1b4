package privdrop

// Capability is a Linux capability that Drop may be asked to keep.
type Capability int

// The capabilities a caller may keep permitted (never effective) after
// Drop: what deleting network namespaces and their links needs.
const (
	// NetAdmin is CAP_NET_ADMIN.
	NetAdmin Capability = iota + 1
	// SysAdmin is CAP_SYS_ADMIN (setns, unmounting a namespace's file).
	SysAdmin
)
