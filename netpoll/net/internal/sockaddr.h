// SockAddr: a socket address by value (sockaddr_storage + length) and its Go-style text.
#pragma once

#include <atomic>
#include <cstdint>
#include <cstring>
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

// A SockAddr kept compactly, for the addresses every Conn, Listener and PacketConn stores (B5:
// two full SockAddrs were 264 of a Conn's bytes). 32 bytes: an address of up to 28 bytes
// (sockaddr_in, sockaddr_in6, an unnamed or short Unix one) is held inline, byte for byte, so
// get() returns exactly what was stored; a longer one (a Unix path of more than about 26
// bytes) lives in a heap block that copies share by reference count (an accepted Unix
// connection shares its listener's). Copies and moves never allocate.
class PackedAddr {
 public:
  PackedAddr() noexcept : len_(0), shared_(false) {}
  // ENOMEM only when a long address's block cannot be allocated.
  static Result<PackedAddr> from(const SockAddr& a) noexcept;
  PackedAddr(const PackedAddr& o) noexcept;
  PackedAddr(PackedAddr&& o) noexcept;
  PackedAddr& operator=(const PackedAddr& o) noexcept;
  PackedAddr& operator=(PackedAddr&& o) noexcept;
  ~PackedAddr() { drop(); }

  SockAddr get() const noexcept;
  bool empty() const noexcept { return !shared_ && len_ == 0; }

 private:
  struct Block {
    std::atomic<std::uint32_t> refs;
    SockAddr addr;
  };
  static constexpr std::size_t kInline = 28;  // sizeof(sockaddr_in6) on every OS netpoll targets
  void drop() noexcept;
  Block* block() const noexcept {
    Block* b;
    std::memcpy(&b, raw_, sizeof b);
    return b;
  }
  void set_block(Block* b) noexcept { std::memcpy(raw_, &b, sizeof b); }
  // The first len_ bytes of the address, or (shared_) the Block pointer. Not a union with the
  // pointer: its alignment would round the union up to 32 and push the flags past it.
  alignas(8) unsigned char raw_[kInline];
  std::uint8_t len_;
  bool shared_;
};

}  // namespace netpoll::net
