#include "net/address.h"

#include <ostream>
#include <string>

#include "doctest/doctest.h"

using netpoll::net::AddrErrc;
using netpoll::net::Network;
using netpoll::net::parse_network;
using netpoll::net::parse_port;
using netpoll::net::split_host_port;

TEST_CASE("split_host_port: the shapes Go accepts") {
  struct Case {
    const char* in;
    const char* host;
    const char* port;
  } cases[] = {
      {"localhost:80", "localhost", "80"},
      {"127.0.0.1:0", "127.0.0.1", "0"},
      {"[::1]:8080", "::1", "8080"},
      {"[fe80::1%eth0]:22", "fe80::1%eth0", "22"},
      {":80", "", "80"},
      {"[::]:80", "::", "80"},
      {"host:", "host", ""},
      {"localhost:http", "localhost", "http"},
      {"[]:1", "", "1"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto r = split_host_port(c.in);
    REQUIRE(r.ok());
    CHECK(r->host == c.host);
    CHECK(r->port == c.port);
  }
}

TEST_CASE("split_host_port: malformed addresses name the problem (case 25)") {
  struct Case {
    const char* in;
    AddrErrc err;
  } cases[] = {
      {"", AddrErrc::empty_address},
      {"host", AddrErrc::missing_port},
      {"[::1]", AddrErrc::missing_port},
      {"[::1", AddrErrc::missing_bracket},
      {"[::1]80", AddrErrc::missing_port},
      {"::1:80", AddrErrc::too_many_colons},
      {"[::1]:80:90", AddrErrc::too_many_colons},
      {"a:b:c", AddrErrc::too_many_colons},
      {"::1]:80", AddrErrc::too_many_colons},
      {"host]:80", AddrErrc::unexpected_bracket},
      {"[a[b]:80", AddrErrc::unexpected_bracket},
      {"host:8]0", AddrErrc::unexpected_bracket},
  };
  for (const auto& c : cases) {
    CAPTURE(c.in);
    auto r = split_host_port(c.in);
    REQUIRE(!r.ok());
    CHECK(r.error() == c.err);
    CHECK(r.error() == std::errc::invalid_argument);
    CHECK(!r.error().message().empty());
  }
  CHECK(split_host_port("[::1").error().message() == "missing ']' in address");
  CHECK(split_host_port("host").error().message() == "missing port in address");
}

TEST_CASE("parse_port: numbers 0-65535 only") {
  CHECK(*parse_port("0") == 0);
  CHECK(*parse_port("") == 0);
  CHECK(*parse_port("65535") == 65535);
  CHECK(*parse_port("00080") == 80);
  for (const char* bad : {"65536", "99999", "-1", "+1", " 80", "8o", "http", "100000", "1e3"}) {
    CAPTURE(bad);
    CHECK(parse_port(bad).error() == AddrErrc::invalid_port);
  }
}

TEST_CASE("parse_network: Go's network names") {
  CHECK(*parse_network("tcp") == Network::tcp);
  CHECK(*parse_network("tcp6") == Network::tcp6);
  CHECK(*parse_network("udp4") == Network::udp4);
  CHECK(*parse_network("unix") == Network::unix_stream);
  CHECK(*parse_network("unixgram") == Network::unix_dgram);
  for (const char* bad : {"", "TCP", "tcp7", "ip", "sctp", "unix "}) {
    CAPTURE(bad);
    auto r = parse_network(bad);
    CHECK(r.error() == AddrErrc::unknown_network);
    CHECK(r.error().message().find("unknown network") == 0);
  }
  CHECK(netpoll::net::network_name(Network::unix_dgram) == "unixgram");
  CHECK(netpoll::net::is_stream(Network::tcp4));
  CHECK(!netpoll::net::is_stream(Network::udp));
  CHECK(netpoll::net::is_unix(Network::unix_seqpacket));
}
