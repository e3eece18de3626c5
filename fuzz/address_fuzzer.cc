// Fuzzer over address parsing (net/address.h, net/sockaddr.h): every input is fed to
// parse_network, split_host_port, parse_port, SockAddr::ip and SockAddr::unix_path, and the
// answers are compared with small reference implementations written from the specifications
// (Go's SplitHostPort and its error order; a port is 0-65535 in decimal digits; an IP literal
// is what inet_pton accepts for the whole string). Successful parses must round-trip:
// split(join(host, port)) and ip(to_string()) give back the same values.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "net/address.h"
#include "net/os_socket.h"
#include "net/sockaddr.h"

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

// The whole host must be the literal: inet_pton on a NUL-terminated copy, refusing embedded NULs.
bool ref_ip(std::string_view host, int family) {
  if (host.empty()) return true;  // the wildcard
  if (host.find('\0') != std::string_view::npos) return false;
  const std::string s(host);
  unsigned char buf[16];
  if (inet_pton(family, s.c_str(), buf) == 1) return true;
  return family == AF_INET6 && inet_pton(AF_INET, s.c_str(), buf) == 1;  // v4-mapped
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

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);

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
    if (Result<std::uint16_t> p = parse_port(hp->port)) check_ip(in, hp->host, *p);
  }

  Result<SockAddr> u = SockAddr::unix_path(in);
  EXPECT(static_cast<bool>(u) == (!in.empty() && in.size() < 108), in);
  if (u && in.find('\0') == std::string_view::npos) EXPECT(u->to_string() == in, in);
  return 0;
}
