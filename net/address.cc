#include "net/address.h"

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
