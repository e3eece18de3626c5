// Address strings and network names, parsed as Go's net package does (SplitHostPort,
// parseNetwork). Pure string work: no resolution, no sockets, no allocation beyond the result.
//
//   "host:port"  "[v6]:port"  ":port" (any address)  "host:" (port 0, as Go)  "localhost:0"
//
// Port names ("http") are not looked up here: resolution happens off the loop thread with
// getaddrinfo, which knows them; split_host_port keeps the text and parse_port only accepts
// numbers.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>

#include "netpoll/net/net_error.h"
#include "netpoll/contract/result.h"

namespace netpoll::net {

enum class Network : std::uint8_t {
  tcp,   // IPv4 or IPv6, whichever the address and system give (dual stack for wildcards)
  tcp4,
  tcp6,
  udp,
  udp4,
  udp6,
  unix_stream,  // "unix"
  unix_dgram,   // "unixgram"
  unix_seqpacket,  // "unixpacket"
};

Result<Network> parse_network(std::string_view name) noexcept;
std::string_view network_name(Network n) noexcept;
bool is_stream(Network n) noexcept;
bool is_unix(Network n) noexcept;

// Views into the input: host without brackets, port text (possibly empty).
struct HostPort {
  std::string_view host;
  std::string_view port;
};

// Go's SplitHostPort. Errors: empty_address, missing_port, missing_bracket,
// unexpected_bracket, too_many_colons.
Result<HostPort> split_host_port(std::string_view address) noexcept;

// An IP literal as Go's net package reads one (netip.ParseAddr), in our own code: the libcs'
// inet_pton differ (wine's takes "1.2.3.4" for IPv6) and inet_aton / getaddrinfo accept
// legacy forms (octal "0127.0.0.1" is 87.0.0.1, "10.1" is 10.0.0.1, "2130706433" is
// 127.0.0.1), so a loopback-looking string could name a public address.
//   IPv4: exactly four decimal parts 0-255, no leading zeros ("0" itself is fine).
//   IPv6: eight groups of 1-4 hex digits, one "::" standing for at least one zero group, the
//         last 32 bits optionally a strict IPv4 part; an optional zone after '%' (non-empty,
//         any text up to the end: an interface name or a decimal index).
struct IpLiteral {
  std::array<std::uint8_t, 16> bytes{};  // network order; an IPv4 literal in bytes[0..3]
  bool v4 = false;                       // written as a dotted quad
  std::string_view zone;                 // IPv6 only; a view into the input
};
// Error: invalid_host.
Result<IpLiteral> parse_ip(std::string_view host) noexcept;

// Whether `host` can only have been meant as an IP literal: it contains ':' or '%' (neither
// is in a host name), or it is dot-separated numbers as inet_aton reads them (decimal, octal
// with a leading 0, hex with 0x; optional trailing dot) — a DNS name's top label is never
// all-numeric (RFC 3696, section 2). Such a host that parse_ip refuses is invalid_host and is
// never handed to the resolver. ASCII spaces and controls count too: older inet_aton stops
// at the first space, so "127.0.0.1 x" was 127.0.0.1.
bool looks_like_ip_literal(std::string_view host) noexcept;

// A decimal port 0-65535; the empty string is port 0 (Go's "host:" listens on any port).
// Error: invalid_port (names, signs, spaces, out of range).
Result<std::uint16_t> parse_port(std::string_view port) noexcept;

}  // namespace netpoll::net
