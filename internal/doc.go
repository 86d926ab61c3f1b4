// Package internal holds what only rawprobe itself needs: the isolated test
// network (testnet), handshake assertions over captures (pcapcheck) and
// target sets.
package internal
