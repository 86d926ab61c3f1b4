// Package testnet is the testing layer of the private two-namespace
// IPv4/IPv6 network of package internal/verify/netlab, for rawprobe's
// privileged tests.
//
// [New] builds a netlab network for a test, first skipping the test (or
// failing it, see [EnvRequirePrivileges]) without the privileges it
// needs, and removes it in t.Cleanup, also when the test fails or panics.
// [Net] embeds the *netlab.Net, so its fields and methods (ProberNS,
// Answering4, InProber, ProberCmd, SetLoss, TargetCounters, ...) are used
// directly; see package netlab for what the network offers. [Net.Listen]
// starts a [Listener] closed in t.Cleanup.
//
// Code runs in a namespace on a locked OS thread ([netlab.Net.InProber],
// [netlab.Net.InTarget]), as a command ([netlab.Net.ProberCmd],
// [netlab.Net.TargetCmd]), or, for code that creates sockets on threads of
// its own, as a re-executed copy of the running test inside the prober
// namespace ([Net.RunInProber], [Child]).
package testnet
