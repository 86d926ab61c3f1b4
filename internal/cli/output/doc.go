// Package output writes rawprobe's results: one record per probed target as
// text, JSON Lines or CSV (each with the port's service name), nmap's XML
// and grepable formats, an --open filter, the final summary line, the run
// statistics of --stats-file, the progress bar shown on a terminal, and a
// pcap file of the engine's packets.
package output
