// The embedding tests' clients (embed_common.h): plain threads on plain blocking sockets
// (embed_socket.h), never netpoll, so the Loop runs only inside the host under test.
#include <algorithm>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "test/embed_common.h"
#include "test/embed_socket.h"

namespace netpoll::embed_test {

namespace {
bool send_all(sock::Handle s, const void* p, std::size_t n, std::string& err) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    const long w = sock::send_some(s, c, n, err);
    if (w <= 0) {
      if (w == 0) err = "send: returned 0";
      return false;
    }
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Reads exactly n bytes; false on error, timeout or early end of stream.
bool recv_all(sock::Handle s, void* p, std::size_t n, std::string& err) {
  char* c = static_cast<char*>(p);
  while (n > 0) {
    const long r = sock::recv_some(s, c, n, err);
    if (r <= 0) {
      if (r == 0) err = "recv: early end of stream";
      return false;
    }
    c += r;
    n -= static_cast<std::size_t>(r);
  }
  return true;
}

// After our half-close the server must close too: the next recv is 0.
bool expect_eof(sock::Handle s, std::string& err) {
  char b;
  const long r = sock::recv_some(s, &b, 1, err);
  if (r == 0) return true;
  if (r > 0) err = "unexpected byte after the echo";
  return false;
}
}  // namespace

std::string echo_client(std::uint16_t port, int conns, std::size_t bytes, std::uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<unsigned char> out, in;
  for (int i = 0; i < conns; ++i) {
    std::string err;
    const sock::Handle s = sock::connect_loopback(port, err);
    if (s == sock::kInvalid) return err;
    std::size_t sent = 0;
    bool ok = true;
    while (ok && sent < bytes) {
      // 1..8 KiB: crosses the server's 1500-byte buffer both ways.
      const std::size_t chunk = std::min<std::size_t>(bytes - sent, 1 + rng() % 8192);
      out.resize(chunk);
      in.assign(chunk, 0);
      for (auto& b : out) b = static_cast<unsigned char>(rng());
      ok = send_all(s, out.data(), chunk, err) && recv_all(s, in.data(), chunk, err);
      if (ok && in != out) {
        err = "echo differs at byte " + std::to_string(sent);
        ok = false;
      }
      sent += chunk;
    }
    if (ok) ok = sock::shutdown_write(s, err) && expect_eof(s, err);
    sock::close(s);
    if (!ok) return "connection " + std::to_string(i) + ": " + err;
  }
  return "";
}

std::string silent_client(std::uint16_t port) {
  std::string err;
  const sock::Handle s = sock::connect_loopback(port, err);
  if (s == sock::kInvalid) return err;
  char got[4];
  const bool ok = recv_all(s, got, sizeof got, err) &&
                  (std::string(got, sizeof got) == "done" || (err = "expected \"done\"", false)) &&
                  send_all(s, "bye", 3, err) && expect_eof(s, err);
  sock::close(s);
  return ok ? "" : err;
}

std::string burst_close_client(std::uint16_t port, int conns, const std::atomic<int>& accepted,
                               std::atomic<bool>& closed, const std::function<void()>& before_close) {
  std::vector<sock::Handle> socks;
  std::string err;
  for (int i = 0; i < conns && err.empty(); ++i) {
    const sock::Handle s = sock::connect_loopback(port, err);
    if (s != sock::kInvalid) socks.push_back(s);
  }
  const auto give_up = Clock::now() + kClientTimeout;
  while (err.empty() && accepted.load(std::memory_order_acquire) < conns) {
    if (Clock::now() >= give_up)
      err = "the server accepted only " + std::to_string(accepted.load()) + " connections";
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  if (err.empty() && before_close) before_close();
  for (sock::Handle s : socks) sock::close(s);
  closed.store(true, std::memory_order_release);
  return err;
}

}  // namespace netpoll::embed_test
