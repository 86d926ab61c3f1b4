// Package output writes rawprobe's results: one record per probed target as
// text, JSON Lines or CSV, an --open filter, the final summary line, the
// progress bar shown on a terminal, and a pcap file of the engine's packets.
package output
