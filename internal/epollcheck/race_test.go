//go:build race

package epollcheck

const raceEnabled = true
