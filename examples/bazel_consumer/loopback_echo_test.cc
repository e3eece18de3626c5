// A consumer's program over @netpoll//:netpoll: a TCP echo on 127.0.0.1, one client sending a
// patterned 64 KiB buffer in uneven pieces and checking every byte comes back. Exit 0 = passed.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "netpoll/net/net.h"

namespace {

using netpoll::Result;
using namespace netpoll::net;

Task<void> echo_one(Listener& ln) {
  Result<Conn> c = co_await ln.Accept();
  if (!c) co_return;
  std::vector<char> buf(1500);
  for (;;) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
    if (!n || *n == 0) co_return;
    if (!co_await c->Write(std::string_view(buf.data(), *n))) co_return;
  }
}

Task<int> roundtrip(Loop& loop, std::string addr) {
  Result<Conn> c = co_await Dial(loop, "tcp", addr);
  if (!c) co_return std::fprintf(stderr, "dial: %s\n", c.error().message().c_str()), 1;
  std::string sent(64 * 1024, '\0');
  for (std::size_t i = 0; i < sent.size(); ++i) sent[i] = static_cast<char>((i * 131 + 7) % 251);
  std::string back;
  std::vector<char> buf(4096);
  std::size_t off = 0;
  for (std::size_t piece = 1; off < sent.size(); piece = piece * 3 % 8191 + 1) {
    std::size_t len = std::min(piece, sent.size() - off);
    if (!co_await c->Write(std::string_view(sent).substr(off, len))) co_return 1;
    off += len;
    // Drain what has come back so far without waiting for all of it.
    while (back.size() + 4096 < off) {
      Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
      if (!n || *n == 0) co_return 1;
      back.append(buf.data(), *n);
    }
  }
  while (back.size() < sent.size()) {
    Result<std::size_t> n = co_await c->Read(std::span<char>(buf));
    if (!n || *n == 0) co_return 1;
    back.append(buf.data(), *n);
  }
  co_return back == sent ? 0 : 1;
}

}  // namespace

int main() {
  Loop loop;
  Result<Listener> ln = Listen(loop, "tcp", "127.0.0.1:0");
  if (!ln) return std::fprintf(stderr, "listen: %s\n", ln.error().message().c_str()), 1;
  loop.spawn(echo_one(*ln));
  int rc = loop.block_on(roundtrip(loop, ln->Addr().to_string()));
  Result<std::size_t> left = loop.shutdown(netpoll::Timeout::after(std::chrono::seconds(5)));
  if (!left || *left != 0) return std::fprintf(stderr, "shutdown left tasks\n"), 1;
  std::printf("loopback echo of 64 KiB: %s\n", rc == 0 ? "ok" : "FAILED");
  return rc;
}
