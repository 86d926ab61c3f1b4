// Package pcapconv rewrites pcap files as pcapng, frame for frame, so the
// tests can check that a pcapng capture reads as its pcap does.
package pcapconv

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/google/gopacket/pcapgo"
)

// ToPcapng writes the frames of the pcap file at src to a new pcapng file
// at dst, with src's link type and each frame's capture information. dst
// is created or truncated.
func ToPcapng(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	r, err := pcapgo.NewReader(in)
	if err != nil {
		return fmt.Errorf("%s: %w", src, err)
	}
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w, err := pcapgo.NewNgWriter(out, r.LinkType())
	if err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", dst, err)
	}
	for n := 0; ; n++ {
		data, ci, err := r.ReadPacketData()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.Close()
			return fmt.Errorf("%s: after %d frames: %w", src, n, err)
		}
		if err := w.WritePacket(ci, data); err != nil {
			out.Close()
			return fmt.Errorf("%s: %w", dst, err)
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return fmt.Errorf("%s: %w", dst, err)
	}
	return out.Close()
}
