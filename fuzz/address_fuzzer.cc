// Fuzzer over address parsing (netpoll/net/address.h, netpoll/net/internal/sockaddr.h): every input is fed to
// parse_network, split_host_port, parse_port, SockAddr::ip and SockAddr::unix_path, and the
// answers are compared with small reference implementations written from the specifications
// (Go's SplitHostPort and its error order; a port is 0-65535 in decimal digits; an IP literal
// is Go's strict form, checked here by splitting on the separators rather than by scanning as
// netpoll/net/address.cc does, and never by inet_pton, whose leniency differs between libcs).
// Successful parses must round-trip: split(join(host, port)) and ip(to_string()) give back
// the same values, and an accepted IPv4 literal prints back as exactly its input. Every
// valid literal is one looks_like_ip_literal reports (so the resolver never sees it).
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include <vector>

#include "netpoll/net/address.h"
#include "netpoll/platform/socket.h"
#include "netpoll/net/internal/sock.h"
#include "netpoll/net/internal/sockaddr.h"

namespace {

using namespace netpoll;
using namespace netpoll::net;

[[noreturn]] void violation(const char* what, std::string_view input) {
  std::fprintf(stderr, "address_fuzzer: %s for input \"", what);
  for (unsigned char c : input) {
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') std::fputc(c, stderr);
    else std::fprintf(stderr, "\\x%02x", c);
  }
  std::fprintf(stderr, "\"\n");
  std::abort();
}
#define EXPECT(cond, in)                   \
  do {                                     \
    if (!(cond)) violation(#cond, (in));   \
  } while (0)

// Go's SplitHostPort, from its documented behaviour. netpoll differs on one point on purpose:
// the empty string is "missing address" (Go: "missing port in address").
struct RefSplit {
  RefSplit(AddrErrc e) : err(e) {}
  RefSplit(std::string_view h, std::string_view p) : host(h), port(p) {}
  AddrErrc err = AddrErrc::ok;
  std::string_view host, port;
};
RefSplit ref_split(std::string_view a) {
  if (a.empty()) return AddrErrc::empty_address;
  const std::size_t i = a.rfind(':');
  if (i == std::string_view::npos) return AddrErrc::missing_port;
  std::size_t j = 0, k = 0;  // where to look for stray '[' and ']'
  std::string_view host;
  if (a[0] == '[') {
    const std::size_t end = a.find(']');
    if (end == std::string_view::npos) return AddrErrc::missing_bracket;
    if (end + 1 == a.size()) return AddrErrc::missing_port;
    if (end + 1 != i) return a[end + 1] == ':' ? AddrErrc::too_many_colons : AddrErrc::missing_port;
    host = a.substr(1, end - 1);
    j = 1;
    k = end + 1;
  } else {
    host = a.substr(0, i);
    if (host.find(':') != std::string_view::npos) return AddrErrc::too_many_colons;
  }
  if (a.substr(j).find('[') != std::string_view::npos) return AddrErrc::unexpected_bracket;
  if (a.substr(k).find(']') != std::string_view::npos) return AddrErrc::unexpected_bracket;
  return {host, a.substr(i + 1)};
}

// A decimal 0-65535; empty is 0.
bool ref_port(std::string_view p, std::uint16_t* out) {
  unsigned long v = 0;
  if (p.size() > 5) return false;
  for (char c : p) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v > 65535) return false;
  *out = static_cast<std::uint16_t>(v);
  return true;
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> parts;
  for (std::size_t start = 0;;) {
    const std::size_t i = s.find(sep, start);
    parts.push_back(s.substr(start, i == std::string_view::npos ? std::string_view::npos : i - start));
    if (i == std::string_view::npos) return parts;
    start = i + 1;
  }
}

// Four decimal parts 0-255, no leading zeros.
bool ref_v4(std::string_view s) {
  const std::vector<std::string_view> parts = split(s, '.');
  if (parts.size() != 4) return false;
  for (std::string_view p : parts) {
    if (p.empty() || p.size() > 3 || (p.size() > 1 && p[0] == '0')) return false;
    int v = 0;
    for (char c : p) {
      if (c < '0' || c > '9') return false;
      v = v * 10 + (c - '0');
    }
    if (v > 255) return false;
  }
  return true;
}

bool hex_group(std::string_view g) {
  if (g.empty() || g.size() > 4) return false;
  for (char c : g)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  return true;
}

// Groups on each side of at most one "::"; the group that ends the text may be an IPv4 part
// (two groups' worth); eight groups without "::", at most seven with it.
bool ref_v6(std::string_view s) {
  const std::size_t dc = s.find("::");
  if (dc != std::string_view::npos && s.find("::", dc + 1) != std::string_view::npos) return false;
  std::vector<std::string_view> groups;
  auto add_side = [&](std::string_view side) {
    if (side.empty()) return true;
    for (std::string_view g : split(side, ':')) {
      if (g.empty()) return false;
      groups.push_back(g);
    }
    return true;
  };
  if (dc == std::string_view::npos) {
    if (!add_side(s) || s.empty()) return false;
  } else if (!add_side(s.substr(0, dc)) || !add_side(s.substr(dc + 2))) {
    return false;
  }
  std::size_t count = 0;
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const bool ends_text = groups[i].data() + groups[i].size() == s.data() + s.size();
    if (ends_text && groups[i].find('.') != std::string_view::npos) {
      if (!ref_v4(groups[i])) return false;
      count += 2;
    } else {
      if (!hex_group(groups[i])) return false;
      count += 1;
    }
  }
  return dc == std::string_view::npos ? count == 8 : count <= 7;
}

// parse_ip's answer: IPv4, or IPv6 with an optional non-empty zone after '%'.
bool ref_parse(std::string_view host) {
  if (host.find(':') == std::string_view::npos) return ref_v4(host);
  const std::size_t pct = host.find('%');
  if (pct == std::string_view::npos) return ref_v6(host);
  return pct + 1 < host.size() && ref_v6(host.substr(0, pct));
}

// A zone names an interface: a decimal index that fits 32 bits, or an existing interface.
bool ref_zone(std::string_view zone) {
  bool digits = zone.size() <= 10;
  unsigned long long v = 0;
  for (char c : zone) {
    if (c < '0' || c > '9') {
      digits = false;
      break;
    }
    v = v * 10 + static_cast<unsigned long long>(c - '0');
  }
  if (digits) return v <= 0xffffffffULL;
  if (zone.find('\0') != std::string_view::npos) return false;
  return os::interface_index(std::string(zone).c_str()) != 0;
}

// SockAddr::ip's answer for `family`.
bool ref_ip(std::string_view host, int family) {
  if (host.empty()) return true;  // the wildcard
  if (!ref_parse(host)) return false;
  const std::size_t pct = host.find('%');
  if (host.find(':') == std::string_view::npos) return true;  // IPv4, or v4-mapped on IPv6
  if (family != AF_INET6) return false;
  return pct == std::string_view::npos || ref_zone(host.substr(pct + 1));
}

bool within(std::string_view part, std::string_view whole) {
  return part.empty() ||
         (part.data() >= whole.data() && part.data() + part.size() <= whole.data() + whole.size());
}

std::string join(std::string_view host, std::string_view port) {
  std::string s;
  if (host.find(':') != std::string_view::npos) s = "[" + std::string(host) + "]";
  else s = std::string(host);
  return s + ":" + std::string(port);
}

void check_ip(std::string_view in, std::string_view host, std::uint16_t port) {
  for (int family : {AF_INET, AF_INET6}) {
    Result<SockAddr> a = SockAddr::ip(host, port, family);
    EXPECT(static_cast<bool>(a) == ref_ip(host, family), in);
    if (!a) continue;
    EXPECT(a->family() == family, in);
    EXPECT(a->port() == port, in);
    if (host.empty()) EXPECT(a->is_wildcard(), in);
    // An accepted IPv4 literal is canonical already: it prints back as written.
    if (family == AF_INET && !host.empty())
      EXPECT(a->to_string() == std::string(host) + ":" + std::to_string(port), in);
    // The printed form parses back to the same address.
    const std::string text = a->to_string();
    Result<HostPort> hp = split_host_port(text);
    EXPECT(hp, in);
    Result<std::uint16_t> p = parse_port(hp->port);
    EXPECT(p && *p == port, in);
    Result<SockAddr> back = SockAddr::ip(hp->host, *p, family);
    EXPECT(back && *back == *a, in);
  }
}

}  // namespace

// Literal parsing on its own, for any host text.
void check_literal(std::string_view in, std::string_view host) {
  const bool valid = ref_parse(host);
  Result<IpLiteral> ip = parse_ip(host);
  EXPECT(static_cast<bool>(ip) == valid, in);
  if (ip) {
    EXPECT(ip->v4 == (host.find(':') == std::string_view::npos), in);
    EXPECT(within(ip->zone, host), in);
  } else {
    EXPECT(ip.error() == AddrErrc::invalid_host, in);
  }
  // A valid literal is always recognised as one; so is anything only digits and dots.
  if (valid) EXPECT(looks_like_ip_literal(host), in);
  if (!host.empty() && host.find_first_not_of("0123456789.") == std::string_view::npos)
    EXPECT(looks_like_ip_literal(host), in);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  check_literal(in, in);

  Result<Network> n = parse_network(in);
  if (n) EXPECT(network_name(*n) == in, in);

  std::uint16_t ref_p = 0;
  Result<std::uint16_t> port = parse_port(in);
  EXPECT(static_cast<bool>(port) == ref_port(in, &ref_p), in);
  if (port) EXPECT(*port == ref_p, in);
  else EXPECT(port.error() == AddrErrc::invalid_port, in);

  const RefSplit ref = ref_split(in);
  Result<HostPort> hp = split_host_port(in);
  if (ref.err != AddrErrc::ok) {
    EXPECT(!hp, in);
    EXPECT(hp.error() == ref.err, in);
  } else {
    EXPECT(hp, in);
    EXPECT(hp->host == ref.host && hp->port == ref.port, in);
    EXPECT(within(hp->host, in) && within(hp->port, in), in);  // views into the input
    const std::string joined = join(hp->host, hp->port);
    Result<HostPort> again = split_host_port(joined);
    EXPECT(again && again->host == hp->host && again->port == hp->port, in);
    check_literal(in, hp->host);
    if (Result<std::uint16_t> p = parse_port(hp->port)) check_ip(in, hp->host, *p);
  }

  Result<SockAddr> u = SockAddr::unix_path(in);
  EXPECT(static_cast<bool>(u) == (!in.empty() && in.size() < 108), in);
  if (u && in.find('\0') == std::string_view::npos) EXPECT(u->to_string() == in, in);
  return 0;
}
