// Errors of the net layer's input parsing (category "netpoll.net"). Each message names the
// problem, as Go's net.AddrError does ("missing port in address", ...).
#pragma once

#include <system_error>
#include <type_traits>

namespace netpoll::net {

enum class AddrErrc {
  ok = 0,
  empty_address = 1,     // ""
  missing_port = 2,      // "host", "[::1]"
  missing_bracket = 3,   // "[::1"
  unexpected_bracket = 4,  // "::1]:80", "[a]b:80"
  too_many_colons = 5,   // "::1:80" (an IPv6 literal must be bracketed)
  invalid_port = 6,      // "host:99999", "host:-1", "host:8o"
  unknown_network = 7,   // "tcp7", ""
  invalid_host = 8,      // "[1:2:3]:80", "0127.0.0.1:80", "10.1:80": looks like an IP literal, is not a valid one
  no_suitable_address = 9,  // "tcp4" with an IPv6 literal; a name with no address of the family
  wrong_network_for_call = 10,  // Listen("udp", ...), ListenPacket("tcp", ...)
  unknown_zone = 11,     // "[fe80::1%nosuchif]:80": no interface has that name
};

const std::error_category& addr_category() noexcept;

inline std::error_code make_error_code(AddrErrc e) noexcept {
  return {static_cast<int>(e), addr_category()};
}

}  // namespace netpoll::net

template <>
struct std::is_error_code_enum<netpoll::net::AddrErrc> : std::true_type {};
