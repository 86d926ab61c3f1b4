//go:build !race

package epollcheck

const raceEnabled = false
