#include "net/sockaddr.h"

#include <cstddef>
#include <cstring>

#include "poller/error.h"

namespace netpoll::net {

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
  if (path[0] == '@') un->sun_path[0] = '\0';  // Linux abstract namespace, spelled as Go does
  a.len_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() +
                                  (path[0] == '@' ? 0 : 1));
  return a;
}

Result<SockAddr> SockAddr::ip(std::string_view host, std::uint16_t port, int family) noexcept {
  SockAddr a;
  char buf[INET6_ADDRSTRLEN + 1];
  // An embedded NUL would end the C string early: "1.2.3.4\0junk" is not 1.2.3.4.
  if (host.size() >= sizeof buf || host.find('\0') != std::string_view::npos)
    return Errc::invalid_argument;
  std::memcpy(buf, host.data(), host.size());
  buf[host.size()] = '\0';
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&a.ss_);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    if (!host.empty() && inet_pton(AF_INET, buf, &in->sin_addr) != 1) return Errc::invalid_argument;
    a.len_ = sizeof(sockaddr_in);
    return a;
  }
  if (family == AF_INET6) {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&a.ss_);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    if (!host.empty()) {
      in_addr v4;
      // Every IPv6 literal has a ':'. Without one, the host is an IPv4 literal on an IPv6
      // socket: the v4-mapped form (::ffff:a.b.c.d). (Asked first, not after an AF_INET6
      // inet_pton fails: wine's accepts "1.2.3.4" as something else.)
      if (host.find(':') != std::string_view::npos) {
        if (inet_pton(AF_INET6, buf, &in6->sin6_addr) != 1) return Errc::invalid_argument;
      } else {
        if (inet_pton(AF_INET, buf, &v4) != 1) return Errc::invalid_argument;
        in6->sin6_addr.s6_addr[10] = 0xff;
        in6->sin6_addr.s6_addr[11] = 0xff;
        std::memcpy(&in6->sin6_addr.s6_addr[12], &v4, 4);
      }
    }
    a.len_ = sizeof(sockaddr_in6);
    return a;
  }
  return Errc::invalid_argument;
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
    if (IN6_IS_ADDR_V4MAPPED(&a)) {
      inet_ntop(AF_INET, &a.s6_addr[12], buf, sizeof buf);
      return std::string(buf) + ":" + std::to_string(port());
    }
    inet_ntop(AF_INET6, &a, buf, sizeof buf);
    return "[" + std::string(buf) + "]:" + std::to_string(port());
  }
  if (ss_.ss_family == AF_UNIX) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(&ss_);
    const std::size_t off = offsetof(sockaddr_un, sun_path);
    const auto len = static_cast<std::size_t>(len_);
    if (len <= off) return "";  // unnamed
    const std::size_t n = len - off;
    if (un->sun_path[0] == '\0') return "@" + std::string(un->sun_path + 1, n - 1);
    return std::string(un->sun_path, strnlen(un->sun_path, n));
  }
  return "";
}

bool SockAddr::operator==(const SockAddr& o) const noexcept {
  return len_ == o.len_ && std::memcmp(&ss_, &o.ss_, len_) == 0;
}

}  // namespace netpoll::net
