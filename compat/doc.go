// Package compat is a drop-in replacement for github.com/tevino/tcp-shaker:
// the same Checker API, backed on Linux by an epoll engine that closes each
// socket with SO_LINGER{1,0} the moment its SYN-ACK arrives, so the probed
// application never sees an accepted connection.
package compat
