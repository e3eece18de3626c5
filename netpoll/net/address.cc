#include "netpoll/net/address.h"

#include <cstddef>
#include <string>

namespace netpoll::net {
namespace {

class AddrCategory final : public std::error_category {
 public:
  const char* name() const noexcept override { return "netpoll.net"; }
  std::string message(int c) const override {
    switch (static_cast<AddrErrc>(c)) {
      case AddrErrc::ok: return "success";
      case AddrErrc::empty_address: return "missing address";
      case AddrErrc::missing_port: return "missing port in address";
      case AddrErrc::missing_bracket: return "missing ']' in address";
      case AddrErrc::unexpected_bracket: return "unexpected '[' or ']' in address";
      case AddrErrc::too_many_colons: return "too many colons in address";
      case AddrErrc::invalid_port: return "invalid port (want a number 0-65535)";
      case AddrErrc::unknown_network: return "unknown network (want tcp, tcp4, tcp6, udp, udp4, udp6, unix, unixgram or unixpacket)";
      case AddrErrc::invalid_host: return "invalid IP address in address";
      case AddrErrc::no_suitable_address: return "no suitable address found for the network";
      case AddrErrc::unknown_zone: return "unknown IPv6 zone (no interface of that name)";
      case AddrErrc::wrong_network_for_call: return "network not valid for this call (Listen takes stream networks, ListenPacket datagram ones)";
    }
    return "unknown netpoll.net error " + std::to_string(c);
  }
  std::error_condition default_error_condition(int c) const noexcept override {
    if (c == static_cast<int>(AddrErrc::ok)) return {};
    return std::errc::invalid_argument;
  }
};

}  // namespace

const std::error_category& addr_category() noexcept {
  static const AddrCategory c;
  return c;
}

Result<Network> parse_network(std::string_view name) noexcept {
  struct Entry {
    std::string_view name;
    Network net;
  };
  static constexpr Entry kTable[] = {
      {"tcp", Network::tcp},   {"tcp4", Network::tcp4},     {"tcp6", Network::tcp6},
      {"udp", Network::udp},   {"udp4", Network::udp4},     {"udp6", Network::udp6},
      {"unix", Network::unix_stream}, {"unixgram", Network::unix_dgram},
      {"unixpacket", Network::unix_seqpacket},
  };
  for (const Entry& e : kTable)
    if (e.name == name) return e.net;
  return AddrErrc::unknown_network;
}

std::string_view network_name(Network n) noexcept {
  switch (n) {
    case Network::tcp: return "tcp";
    case Network::tcp4: return "tcp4";
    case Network::tcp6: return "tcp6";
    case Network::udp: return "udp";
    case Network::udp4: return "udp4";
    case Network::udp6: return "udp6";
    case Network::unix_stream: return "unix";
    case Network::unix_dgram: return "unixgram";
    case Network::unix_seqpacket: return "unixpacket";
  }
  return "?";
}

bool is_stream(Network n) noexcept {
  return n == Network::tcp || n == Network::tcp4 || n == Network::tcp6 ||
         n == Network::unix_stream || n == Network::unix_seqpacket;
}

bool is_unix(Network n) noexcept {
  return n == Network::unix_stream || n == Network::unix_dgram || n == Network::unix_seqpacket;
}

Result<HostPort> split_host_port(std::string_view a) noexcept {
  if (a.empty()) return AddrErrc::empty_address;
  // The port starts after the last colon.
  const std::size_t colon = a.rfind(':');
  if (colon == std::string_view::npos) return AddrErrc::missing_port;
  std::string_view host;
  if (a.front() == '[') {
    const std::size_t end = a.find(']');
    if (end == std::string_view::npos) return AddrErrc::missing_bracket;
    if (end + 1 == a.size()) return AddrErrc::missing_port;  // "[::1]"
    // "[host]:port" is the only shape: the colon must follow the bracket directly.
    if (end + 1 != colon) {
      return a[end + 1] == ':' ? AddrErrc::too_many_colons : AddrErrc::missing_port;
    }
    host = a.substr(1, end - 1);
    if (host.find('[') != std::string_view::npos) return AddrErrc::unexpected_bracket;
  } else {
    host = a.substr(0, colon);
    if (host.find(':') != std::string_view::npos) return AddrErrc::too_many_colons;
    if (host.find_first_of("[]") != std::string_view::npos) return AddrErrc::unexpected_bracket;
  }
  const std::string_view port = a.substr(colon + 1);
  if (port.find_first_of("[]") != std::string_view::npos) return AddrErrc::unexpected_bracket;
  return HostPort{host, port};
}

namespace {
bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }
int hex_value(char c) noexcept {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Strict dotted quad into out[0..3]; the whole of `s` must be it.
bool parse_v4(std::string_view s, std::uint8_t* out) noexcept {
  std::size_t i = 0;
  for (int part = 0; part < 4; ++part) {
    if (part > 0) {
      if (i >= s.size() || s[i] != '.') return false;
      ++i;
    }
    const std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && is_digit(s[i]) && i - start < 3) v = v * 10 + static_cast<unsigned>(s[i++] - '0');
    const std::size_t len = i - start;
    if (len == 0 || v > 255) return false;
    if (len > 1 && s[start] == '0') return false;  // leading zero: octal to inet_aton
    out[part] = static_cast<std::uint8_t>(v);
  }
  return i == s.size();
}

// IPv6 without zone into out[0..15].
bool parse_v6(std::string_view s, std::uint8_t* out) noexcept {
  std::size_t i = 0, n = 0;        // input position, bytes written
  std::ptrdiff_t ellipsis = -1;    // byte index where "::" stands
  if (s.size() >= 2 && s[0] == ':' && s[1] == ':') {
    ellipsis = 0;
    i = 2;
    if (i == s.size()) {
      for (std::size_t k = 0; k < 16; ++k) out[k] = 0;
      return true;
    }
  }
  while (n < 16) {
    const std::size_t start = i;
    unsigned v = 0;
    while (i < s.size() && i - start < 4 && hex_value(s[i]) >= 0) v = v * 16 + static_cast<unsigned>(hex_value(s[i++]));
    if (i == start) return false;  // an empty group (":::" or a stray ':')
    if (i < s.size() && s[i] == '.') {
      // The embedded IPv4 part: only as the last 32 bits, and strict.
      if (n > 12 || !parse_v4(s.substr(start), out + n)) return false;
      n += 4;
      i = s.size();
      break;
    }
    if (i < s.size() && hex_value(s[i]) >= 0) return false;  // more than 4 hex digits
    out[n++] = static_cast<std::uint8_t>(v >> 8);
    out[n++] = static_cast<std::uint8_t>(v);
    if (i == s.size()) break;
    if (s[i] != ':' || i + 1 == s.size()) return false;  // junk, or a trailing single ':'
    ++i;
    if (s[i] == ':') {
      if (ellipsis >= 0) return false;  // a second "::"
      ellipsis = static_cast<std::ptrdiff_t>(n);
      if (++i == s.size()) break;
    }
  }
  if (i != s.size()) return false;  // eight groups and still text left
  if (ellipsis < 0) return n == 16;
  if (n == 16) return false;  // "::" must stand for at least one zero group
  // Move the groups after "::" to the end and zero the gap.
  const auto e = static_cast<std::size_t>(ellipsis);
  const std::size_t tail = n - e;
  for (std::size_t k = 0; k < tail; ++k) out[15 - k] = out[n - 1 - k];
  for (std::size_t k = e; k < 16 - tail; ++k) out[k] = 0;
  return true;
}

// A label as inet_aton reads a number: decimal, octal, or 0x hex (possibly no digits).
bool numeric_label(std::string_view l) noexcept {
  if (l.empty()) return false;
  if (l.size() >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X')) {
    for (char c : l.substr(2))
      if (hex_value(c) < 0) return false;
    return true;
  }
  for (char c : l)
    if (!is_digit(c)) return false;
  return true;
}
}  // namespace

Result<IpLiteral> parse_ip(std::string_view host) noexcept {
  IpLiteral ip;
  if (host.find(':') == std::string_view::npos) {
    if (!parse_v4(host, ip.bytes.data())) return AddrErrc::invalid_host;
    ip.v4 = true;
    return ip;
  }
  std::string_view addr = host;
  if (const std::size_t pct = host.find('%'); pct != std::string_view::npos) {
    ip.zone = host.substr(pct + 1);
    if (ip.zone.empty()) return AddrErrc::invalid_host;
    addr = host.substr(0, pct);
  }
  if (!parse_v6(addr, ip.bytes.data())) return AddrErrc::invalid_host;
  return ip;
}

bool looks_like_ip_literal(std::string_view host) noexcept {
  if (host.empty()) return false;  // the wildcard
  bool digits_and_dots = true;
  for (char c : host) {
    if (c == ':' || c == '%' || static_cast<unsigned char>(c) <= ' ' || c == 0x7f) return true;
    digits_and_dots = digits_and_dots && (is_digit(c) || c == '.');
  }
  if (digits_and_dots) return true;  // also "1..2.3", ".1": no name is only digits and dots
  if (host.back() == '.') host.remove_suffix(1);
  if (host.empty()) return false;
  for (std::size_t start = 0;;) {
    const std::size_t dot = host.find('.', start);
    if (!numeric_label(host.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

Result<std::uint16_t> parse_port(std::string_view p) noexcept {
  if (p.empty()) return std::uint16_t{0};
  if (p.size() > 5) return AddrErrc::invalid_port;  // also rules out overflow below
  std::uint32_t v = 0;
  for (char c : p) {
    if (c < '0' || c > '9') return AddrErrc::invalid_port;
    v = v * 10 + static_cast<std::uint32_t>(c - '0');
  }
  if (v > 65535) return AddrErrc::invalid_port;
  return static_cast<std::uint16_t>(v);
}

}  // namespace netpoll::net
