package main

import (
	"fmt"

	"github.com/rawprobe/rawprobe/internal/privdrop"
)

// dropPrivileges drops every capability of the process. Each subcommand
// calls it at the one point where everything that needs a capability is
// open: the raw engine's sockets, the output files (root may write where
// only CAP_DAC_OVERRIDE lets it) and serve's listener (a port below 1024
// needs CAP_NET_BIND_SERVICE). A process that cannot drop does not go on:
// it is a runtime error.
func dropPrivileges(e env) error {
	if e.dropCaps == nil {
		return nil
	}
	if err := e.dropCaps(); err != nil {
		return fmt.Errorf("dropping privileges: %w", err)
	}
	return nil
}

// dropAll is env.dropCaps of the real command.
func dropAll() error { return privdrop.Drop() }

// dropForDemo is the demo's drop: it keeps what the demo's own clean-up
// needs, permitted and not effective.
func dropForDemo(e env) func(keep ...privdrop.Capability) error {
	if e.dropCaps == nil {
		return nil
	}
	return privdrop.Drop
}
