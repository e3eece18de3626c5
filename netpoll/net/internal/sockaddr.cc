#include "netpoll/net/internal/sockaddr.h"

#include <cstddef>
#include <cstring>
#include <new>
#include <utility>

#include "netpoll/net/internal/sock.h"
#include "netpoll/contract/error.h"

namespace netpoll::net {

namespace {
// Go's zone rule: a decimal zone is the interface index itself, any other text an interface
// name (looked up now: an index names an interface only while it exists).
Result<std::uint32_t> zone_index(std::string_view zone) noexcept {
  std::uint64_t v = 0;
  bool digits = zone.size() <= 10;  // UINT32_MAX has 10 digits: no overflow below
  for (char c : zone) {
    if (!digits) break;
    if (c < '0' || c > '9') digits = false;
    else v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  if (digits) {
    if (v > UINT32_MAX) return AddrErrc::invalid_host;
    return static_cast<std::uint32_t>(v);
  }
  // Longer than any OS's interface names (Windows allows 256 characters, Linux 15).
  char name[258];
  if (zone.size() >= sizeof name || zone.find('\0') != std::string_view::npos) return AddrErrc::unknown_zone;
  zone.copy(name, zone.size());
  name[zone.size()] = '\0';
  const std::uint32_t index = os::interface_index(name);
  if (index == 0) return AddrErrc::unknown_zone;
  return index;
}
}  // namespace

SockAddr::SockAddr() noexcept { std::memset(&ss_, 0, sizeof ss_); }

SockAddr SockAddr::from(const sockaddr* sa, socklen_t len) noexcept {
  SockAddr a;
  const long long n = len;  // socklen_t is signed on Windows, unsigned on Linux
  if (n < 0) len = 0;
  else if (static_cast<unsigned long long>(n) > sizeof a.ss_) len = static_cast<socklen_t>(sizeof a.ss_);
  std::memcpy(&a.ss_, sa, len);
  a.len_ = len;
  return a;
}

Result<SockAddr> SockAddr::unix_path(std::string_view path) noexcept {
  SockAddr a;
  auto* un = reinterpret_cast<sockaddr_un*>(&a.ss_);
  un->sun_family = AF_UNIX;
  if (path.empty() || path.size() >= sizeof un->sun_path) return Errc::invalid_argument;
  std::memcpy(un->sun_path, path.data(), path.size());
  // Linux's abstract namespace, spelled as Go does; an ordinary path elsewhere.
  const bool abstract = kAbstractUnixNames && path[0] == '@';
  if (abstract) un->sun_path[0] = '\0';
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + (abstract ? 0 : 1));
  return a;
}

Result<SockAddr> SockAddr::ip(std::string_view host, std::uint16_t port, int family) noexcept {
  SockAddr a;
  if (family != AF_INET && family != AF_INET6) return Errc::invalid_argument;
  IpLiteral ip;  // the wildcard when host is empty
  if (!host.empty()) {
    Result<IpLiteral> parsed = parse_ip(host);
    if (!parsed) return parsed.error();
    ip = *parsed;
  }
  if (family == AF_INET) {
    if (!host.empty() && !ip.v4) return AddrErrc::invalid_host;
    auto* in = reinterpret_cast<sockaddr_in*>(&a.ss_);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    std::memcpy(&in->sin_addr, ip.bytes.data(), 4);
    a.len_ = sizeof(sockaddr_in);
    return a;
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.ss_);
  in6->sin6_family = AF_INET6;
  in6->sin6_port = htons(port);
  if (ip.v4) {  // an IPv4 literal on an IPv6 socket: the v4-mapped form (::ffff:a.b.c.d)
    in6->sin6_addr.s6_addr[10] = 0xff;
    in6->sin6_addr.s6_addr[11] = 0xff;
    std::memcpy(&in6->sin6_addr.s6_addr[12], ip.bytes.data(), 4);
  } else {
    std::memcpy(&in6->sin6_addr, ip.bytes.data(), 16);
  }
  if (!ip.zone.empty()) {
    Result<std::uint32_t> scope = zone_index(ip.zone);
    if (!scope) return scope.error();
    in6->sin6_scope_id = *scope;
  }
  a.len_ = sizeof(sockaddr_in6);
  return a;
}

std::uint16_t SockAddr::port() const noexcept {
  if (ss_.ss_family == AF_INET) return ntohs(reinterpret_cast<const sockaddr_in*>(&ss_)->sin_port);
  if (ss_.ss_family == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_port);
  return 0;
}

bool SockAddr::is_wildcard() const noexcept {
  if (ss_.ss_family == AF_INET)
    return reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr.s_addr == htonl(INADDR_ANY);
  if (ss_.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr;
    return IN6_IS_ADDR_UNSPECIFIED(&a);
  }
  return false;
}

std::string SockAddr::to_string() const {
  char buf[INET6_ADDRSTRLEN];
  if (ss_.ss_family == AF_INET) {
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss_)->sin_addr, buf, sizeof buf);
    return std::string(buf) + ":" + std::to_string(port());
  }
  if (ss_.ss_family == AF_INET6) {
    const auto& a = reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_addr;
    const std::uint32_t scope = reinterpret_cast<const sockaddr_in6*>(&ss_)->sin6_scope_id;
    std::string host;
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      inet_ntop(AF_INET, &a.s6_addr[12], buf, sizeof buf);
      // Without a zone, v4-mapped prints as the IPv4 it maps (as Go prints it). With one it
      // keeps the "::ffff:" form, since a zone on an IPv4 literal does not parse back: the
      // printed text must name the same address ("[::ffff:1.2.3.4%eth0]" lost its zone).
      if (scope == 0) return std::string(buf) + ":" + std::to_string(port());
      host = "::ffff:" + std::string(buf);
    } else {
      inet_ntop(AF_INET6, &a, buf, sizeof buf);
      host = buf;
    }
    // As Go prints a zone: the interface's name while it has one, else the index.
    if (scope != 0) {
      std::string zone = os::interface_name(scope);
      if (zone.empty()) zone = std::to_string(scope);
      host += "%" + zone;
    }
    return "[" + host + "]:" + std::to_string(port());
  }
  if (ss_.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss_);
    const std::size_t off = offsetof(sockaddr_un, sun_path);
    const auto len = static_cast<std::size_t>(len_);
    if (len <= off) return "";  // unnamed
    const std::size_t n = len - off;
    // Linux's abstract names. Elsewhere a leading NUL is an unnamed socket (Darwin reports
    // unnamed peers as an all-zero sun_path): strnlen gives "".
    if (kAbstractUnixNames && un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return "";
}

bool SockAddr::operator==(const SockAddr& o) const noexcept {
  return len_ == o.len_ && std::memcmp(&ss_, &o.ss_, len_) == 0;
}

// --- PackedAddr ---------------------------------------------------------------------------

static_assert(sizeof(sockaddr_in6) <= 28, "an IPv6 address must fit PackedAddr inline");
static_assert(sizeof(PackedAddr) == 32);

Result<PackedAddr> PackedAddr::from(const SockAddr& a) noexcept {
  PackedAddr p;
  const auto n = static_cast<std::size_t>(a.len());
  if (n <= kInline) {
    std::memcpy(p.raw_, a.get(), n);
    p.len_ = static_cast<std::uint8_t>(n);
    return p;
  }
  Block* b = new (std::nothrow) Block{{1}, a};
  if (!b) return std::make_error_code(std::errc::not_enough_memory);
  p.set_block(b);
  p.shared_ = true;
  return p;
}

PackedAddr::PackedAddr(const PackedAddr& o) noexcept : len_(o.len_), shared_(o.shared_) {
  // The pointer or the address: raw_'s first bytes either way.
  std::memcpy(raw_, o.raw_, shared_ ? sizeof(Block*) : len_);
  if (shared_) block()->refs.fetch_add(1, std::memory_order_relaxed);
}

PackedAddr::PackedAddr(PackedAddr&& o) noexcept : len_(o.len_), shared_(o.shared_) {
  std::memcpy(raw_, o.raw_, shared_ ? sizeof(Block*) : len_);
  o.len_ = 0;
  o.shared_ = false;
}

PackedAddr& PackedAddr::operator=(const PackedAddr& o) noexcept {
  if (this != &o) {
    PackedAddr copy(o);
    *this = std::move(copy);
  }
  return *this;
}

PackedAddr& PackedAddr::operator=(PackedAddr&& o) noexcept {
  if (this != &o) {
    drop();
    len_ = o.len_;
    shared_ = o.shared_;
    std::memcpy(raw_, o.raw_, shared_ ? sizeof(Block*) : len_);
    o.len_ = 0;
    o.shared_ = false;
  }
  return *this;
}

void PackedAddr::drop() noexcept {
  // acq_rel: the last owner's delete happens after every other owner's reads of the block.
  if (shared_ && block()->refs.fetch_sub(1, std::memory_order_acq_rel) == 1) delete block();
  shared_ = false;
  len_ = 0;
}

SockAddr PackedAddr::get() const noexcept {
  if (shared_) return block()->addr;
  return SockAddr::from(reinterpret_cast<const sockaddr*>(raw_), static_cast<socklen_t>(len_));
}

}  // namespace netpoll::net
