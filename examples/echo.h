// The echo handler every echo server example serves (echo_server and its hosted siblings).
#pragma once

#include <array>
#include <cstddef>
#include <span>

#include "netpoll/net/net.h"

namespace netpoll::examples {

// Echoes until the peer half-closes (then returning closes the connection, so the peer reads
// EOF after the last echoed byte), an error, or shutdown (Errc::closed).
inline net::Task<void> echo(net::Conn& c) {
  // In the coroutine frame: allocated once with the connection, reused by every read. 64 KiB
  // takes a whole loopback burst in one read(2).
  std::array<std::byte, 64 * 1024> buf;
  for (;;) {
    Result<std::size_t> n = co_await c.Read(buf);
    if (!n || *n == 0) break;
    // Write sends all n bytes (it parks while the peer is not reading), so nothing more is
    // read from this peer until its echo is out: the peer's backlog is its own to drain.
    Result<std::size_t> w = co_await c.Write(std::span<const std::byte>(buf.data(), *n));
    if (!w) break;
  }
}

}  // namespace netpoll::examples
