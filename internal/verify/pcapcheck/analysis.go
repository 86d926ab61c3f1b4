package pcapcheck

import "github.com/rawprobe/rawprobe/pcapverify"

// The analysis and the packet decoder are package pcapverify's, the one
// implementation rawprobe's tests, its demo, `rawprobe verify` and other
// projects' tests share; pcapcheck adds the capture side. The names below
// let the harness keep spelling them pcapcheck.X.
type (
	// Reply is pcapverify.Reply.
	Reply = pcapverify.Reply
	// Flow is pcapverify.Flow.
	Flow = pcapverify.Flow
	// Violation is pcapverify.Violation.
	Violation = pcapverify.Violation
	// GapStats is pcapverify.GapStats.
	GapStats = pcapverify.GapStats
	// Report is pcapverify.Report.
	Report = pcapverify.Report
	// Segment is pcapverify.Segment.
	Segment = pcapverify.Segment
)

// The replies of a flow, as pcapverify names them.
const (
	NoReply = pcapverify.NoReply
	SYNACK  = pcapverify.SYNACK
	RST     = pcapverify.RST
	ICMP    = pcapverify.ICMP
)

// TCP header flags, as Segment.Flags holds them.
const (
	FlagFIN = pcapverify.FlagFIN
	FlagSYN = pcapverify.FlagSYN
	FlagRST = pcapverify.FlagRST
	FlagPSH = pcapverify.FlagPSH
	FlagACK = pcapverify.FlagACK
	FlagURG = pcapverify.FlagURG
)

// AnalyzeFile is pcapverify.AnalyzeFile.
func AnalyzeFile(path string) (*Report, error) { return pcapverify.AnalyzeFile(path) }

// DecodeEthernet is pcapverify.DecodeEthernet.
func DecodeEthernet(frame []byte) (Segment, bool) { return pcapverify.DecodeEthernet(frame) }

// DecodeIP is pcapverify.DecodeIP.
func DecodeIP(b []byte) (Segment, bool) { return pcapverify.DecodeIP(b) }
