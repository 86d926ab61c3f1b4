package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The flag types below parse values whose zero would mean something else
// to the engines: there, a zero Timeout or SourcePorts means "the
// default", while on the command line the default is the flag's own and 0
// is a mistake. They reject only what they cannot represent; the ranges of
// the settings are checked once, by engine.Validate.

// positiveDuration is a flag value holding a duration > 0.
type positiveDuration time.Duration

func (d *positiveDuration) Set(s string) error {
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	if v <= 0 {
		return errors.New("want a positive duration such as 500ms")
	}
	*d = positiveDuration(v)
	return nil
}

func (d *positiveDuration) String() string { return time.Duration(*d).String() }
func (d *positiveDuration) Type() string   { return "duration" }

// portRange is a flag value LOW-HIGH of two port numbers 1-65535; the
// order of the two is the engine's to check.
type portRange [2]uint16

func (r *portRange) Set(s string) error {
	lo, hi, ok := strings.Cut(s, "-")
	l, errL := strconv.ParseUint(lo, 10, 16)
	h, errH := strconv.ParseUint(hi, 10, 16)
	if !ok || errL != nil || errH != nil || l == 0 || h == 0 {
		return fmt.Errorf("want LOW-HIGH with 1 <= LOW <= HIGH <= 65535")
	}
	*r = portRange{uint16(l), uint16(h)}
	return nil
}

func (r *portRange) String() string { return fmt.Sprintf("%d-%d", r[0], r[1]) }
func (r *portRange) Type() string   { return "string" }
