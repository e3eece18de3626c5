// SockAddr: a socket address by value (sockaddr_storage + length) and its Go-style text.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "netpoll/platform/socket.h"
#include "netpoll/contract/result.h"

namespace netpoll::net {

class SockAddr {
 public:
  SockAddr() noexcept;
  static SockAddr from(const sockaddr* sa, socklen_t len) noexcept;
  // Unix-domain path (on Linux, abstract names start with '@' as in Go). Error: invalid_argument when the
  // path does not fit sun_path.
  static Result<SockAddr> unix_path(std::string_view path) noexcept;
  // A strict IP literal (address.h parse_ip; no brackets) and port; empty host is the wildcard
  // of `family`. An IPv4 literal on AF_INET6 is the v4-mapped address; an IPv6 zone ("%eth0",
  // "%2") becomes sin6_scope_id. Errors: invalid_host (not a literal, or IPv6 for AF_INET),
  // unknown_zone, Errc::invalid_argument (another family).
  static Result<SockAddr> ip(std::string_view host, std::uint16_t port, int family) noexcept;

  const sockaddr* get() const noexcept { return reinterpret_cast<const sockaddr*>(&ss_); }
  sockaddr* get() noexcept { return reinterpret_cast<sockaddr*>(&ss_); }
  socklen_t len() const noexcept { return len_; }
  socklen_t* len_ptr() noexcept { return &len_; }
  void set_len(socklen_t n) noexcept { len_ = n; }
  static constexpr socklen_t capacity() noexcept { return sizeof(sockaddr_storage); }

  int family() const noexcept { return ss_.ss_family; }
  bool empty() const noexcept { return len_ == 0; }
  std::uint16_t port() const noexcept;  // 0 for non-IP
  bool is_wildcard() const noexcept;    // 0.0.0.0 or ::
  // "1.2.3.4:80", "[::1]:80", "[fe80::1%eth0]:80" (the zone by name while the interface
  // exists, else its index; v4-mapped IPv6 prints as IPv4, as Go does), a Unix path, or "".
  std::string to_string() const;

  bool operator==(const SockAddr& o) const noexcept;

 private:
  sockaddr_storage ss_;
  socklen_t len_ = 0;
};

}  // namespace netpoll::net
