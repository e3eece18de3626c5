// The program every consumer project here builds against an installed or embedded netpoll:
// it listens on 127.0.0.1:0, dials itself and pushes 256 KiB through an echo, checking every
// byte that comes back. Exit 0 on success. Written only against the public net API.
#include <chrono>
#include <cstdio>
#include <optional>
#include <span>
#include <string>

#include "netpoll/net/net.h"

namespace {

using netpoll::Result;
namespace net = netpoll::net;

// More than the loopback socket buffers hold, so both directions fill up and park.
constexpr std::size_t kTotal = std::size_t{1} << 18;

char byte_at(std::size_t i) { return static_cast<char>('A' + (i * 31 + i / 977) % 58); }

// Serves one connection: copies what arrives back until the peer half-closes.
net::Task<void> echo_once(net::Listener& ln) {
  Result<net::Conn> c = co_await ln.Accept();
  if (!c) co_return;
  std::string buf(16 * 1024, '\0');
  for (;;) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
    if (!n || *n == 0) break;
    if (!co_await c->Write(std::string_view(buf.data(), *n))) co_return;
  }
  (void)c->CloseWrite();
}

// Sends the whole pattern, then half-closes so the echo side sees the end.
net::Task<void> send_pattern(net::Conn& c) {
  std::string out(kTotal, '\0');
  for (std::size_t i = 0; i < kTotal; ++i) out[i] = byte_at(i);
  if (co_await c.Write(std::string_view(out))) (void)c.CloseWrite();
}

// Dials the listener and reads the echo back to its end, comparing as it goes.
net::Task<int> run_client(net::Loop& loop, std::optional<net::Conn>& conn, std::string addr) {
  Result<net::Conn> dialed = co_await net::Dial(loop, "tcp", addr);
  if (!dialed) {
    std::fprintf(stderr, "dial %s: %s\n", addr.c_str(), dialed.error().message().c_str());
    co_return 1;
  }
  conn.emplace(std::move(*dialed));
  loop.spawn(send_pattern(*conn));
  char buf[8192];
  std::size_t seen = 0;
  for (;;) {
    Result<std::size_t> n = co_await conn->Read(std::span<char>(buf));
    if (!n) co_return 1;
    if (*n == 0) break;
    for (std::size_t k = 0; k < *n; ++k)
      if (buf[k] != byte_at(seen + k)) {
        std::fprintf(stderr, "byte %zu differs\n", seen + k);
        co_return 1;
      }
    seen += *n;
  }
  if (seen != kTotal) std::fprintf(stderr, "got %zu of %zu bytes\n", seen, kTotal);
  co_return seen == kTotal ? 0 : 1;
}

}  // namespace

int main() {
  net::Loop loop;
  Result<net::Listener> ln = net::Listen(loop, "tcp", "127.0.0.1:0");
  if (!ln) {
    std::fprintf(stderr, "listen: %s\n", ln.error().message().c_str());
    return 1;
  }
  loop.spawn(echo_once(*ln));
  std::optional<net::Conn> conn;  // outlives the tasks that use it (shutdown unwinds them)
  int rc = loop.block_on(run_client(loop, conn, ln->Addr().to_string()));
  Result<std::size_t> left = loop.shutdown(netpoll::Timeout::after(std::chrono::seconds(5)));
  if (!left || *left != 0) rc = 1;
  std::printf("echo_check: %zu bytes over %s: %s\n", kTotal, netpoll::Poller::kName.data(),
              rc == 0 ? "ok" : "FAILED");
  return rc;
}
