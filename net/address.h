// Address strings and network names, parsed as Go's net package does (SplitHostPort,
// parseNetwork). Pure string work: no resolution, no sockets, no allocation beyond the result.
//
//   "host:port"  "[v6]:port"  ":port" (any address)  "host:" (port 0, as Go)  "localhost:0"
//
// Port names ("http") are not looked up here: resolution happens off the loop thread with
// getaddrinfo, which knows them; split_host_port keeps the text and parse_port only accepts
// numbers.
#pragma once

#include <cstdint>
#include <string_view>

#include "net/net_error.h"
#include "poller/result.h"

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

// A decimal port 0-65535; the empty string is port 0 (Go's "host:" listens on any port).
// Error: invalid_port (names, signs, spaces, out of range).
Result<std::uint16_t> parse_port(std::string_view port) noexcept;

}  // namespace netpoll::net
