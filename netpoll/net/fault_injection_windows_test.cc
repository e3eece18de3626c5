// Winsock fault injection (the Windows counterpart of netpoll/net/fault_injection_posix_test.cc): every
// Winsock call the net layer makes through `net::sys` (netpoll/net/internal/sys_windows.h) is made to fail
// once, at every call a workload reaches, with errors that call can return. The operation that
// made the call must then report that error (as the std::errc it maps to), or carry on where
// the layer documents the call as best effort; nothing may hang, and nothing may leak:
// sockets (counted through the hooks: made by WSASocketW, gone by closesocket), PollDescs,
// timers and heap allocations are back to their baseline after every run, and the Loop still
// serves a fresh connection.
#include <winsock2.h>

#include <array>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <string>
#include <vector>

#include "doctest/doctest.h"
#include "netpoll/net/net.h"
#include "netpoll/net/internal/sys_windows.h"
#include "netpoll/net/internal/winsock_error.h"
#include "test/alloc_counter.h"
#include "test/net_test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;

namespace {

enum Sys : int {
  kSocket, kClose, kBind, kListen, kConnect, kSetsockopt, kGetsockopt, kGetsockname,
  kGetpeername, kShutdown, kRecv, kSend, kRecvFrom, kSendTo, kAcceptEx, kConnectEx, kSysCount
};
const char* const kSysName[kSysCount] = {
    "WSASocketW", "closesocket", "bind", "listen", "connect", "setsockopt", "getsockopt",
    "getsockname", "getpeername", "shutdown", "WSARecv", "WSASend", "WSARecvFrom", "WSASendTo",
    "AcceptEx", "ConnectEx"};

// What a failure of each call may be, and whether the layer may carry on past it.
struct Rule {
  std::vector<int> errors;
  bool may_continue;  // best effort somewhere (an option, an address for a log), or retried
};
const std::array<Rule, kSysCount> kRules = {{
    {{WSAEMFILE, WSAENOBUFS}, false},                     // WSASocketW
    {{}, true},                                           // closesocket: counted, not failed
    {{WSAEADDRINUSE, WSAEACCES}, false},                  // bind
    {{WSAEADDRINUSE, WSAENOBUFS}, false},                 // listen
    {{WSAECONNREFUSED, WSAENETUNREACH}, false},           // connect (datagram Dial)
    {{WSAENOBUFS, WSAEINVAL}, true},                      // setsockopt (TCP_NODELAY is best effort)
    {{WSAEINVAL}, true},                                  // getsockopt
    {{WSAEINVAL, WSAENOTCONN}, true},                     // getsockname (accept: best effort)
    {{WSAENOTCONN}, true},   // getpeername (a dialed connection falls back to the address dialed)
    {{WSAENOTCONN}, false},                               // shutdown
    {{WSAECONNRESET, WSAENETRESET, WSAENOBUFS}, false},   // WSARecv
    {{WSAECONNRESET, WSAENOBUFS, WSAESHUTDOWN}, false},   // WSASend
    {{WSAENETUNREACH, WSAENOBUFS}, false},                // WSARecvFrom
    {{WSAENETUNREACH, WSAENOBUFS}, false},                // WSASendTo
    {{WSAENOBUFS, WSAECONNRESET}, true},                  // AcceptEx (a reset client: next one)
    {{WSAECONNREFUSED, WSAENETUNREACH}, false},           // ConnectEx
}};

struct Injection {
  bool armed = false;
  Sys target = kSocket;
  int nth = 0;  // fail the nth call of `target` (1-based), counted over the run
  int err = 0;
  int calls[kSysCount] = {};
  bool fired = false;
  long live_sockets = 0;  // made minus closed, over the whole test
};
Injection g;

template <Sys S>
bool inject() {
  ++g.calls[S];
  if (!g.armed || S != g.target || g.calls[S] != g.nth) return false;
  g.fired = true;
  WSASetLastError(g.err);
  return true;
}

// One hook per entry: fail, or call through (and count sockets).
SysHooks hooks() {
  SysHooks h = kRealSys;
  h.wsa_socket = [](int af, int type, int proto, LPWSAPROTOCOL_INFOW info, GROUP grp,
                    DWORD flags) -> SOCKET {
    if (inject<kSocket>()) return INVALID_SOCKET;
    const SOCKET s = kRealSys.wsa_socket(af, type, proto, info, grp, flags);
    if (s != INVALID_SOCKET) ++g.live_sockets;
    return s;
  };
  h.closesocket = [](SOCKET s) -> int {
    (void)inject<kClose>();  // never failed: the layer cannot act on it
    const int r = kRealSys.closesocket(s);
    if (r == 0) --g.live_sockets;
    return r;
  };
  h.bind = [](SOCKET s, const sockaddr* a, int n) -> int {
    return inject<kBind>() ? SOCKET_ERROR : kRealSys.bind(s, a, n);
  };
  h.listen = [](SOCKET s, int b) -> int {
    return inject<kListen>() ? SOCKET_ERROR : kRealSys.listen(s, b);
  };
  h.connect = [](SOCKET s, const sockaddr* a, int n) -> int {
    return inject<kConnect>() ? SOCKET_ERROR : kRealSys.connect(s, a, n);
  };
  h.setsockopt = [](SOCKET s, int l, int n, const char* v, int len) -> int {
    return inject<kSetsockopt>() ? SOCKET_ERROR : kRealSys.setsockopt(s, l, n, v, len);
  };
  h.getsockopt = [](SOCKET s, int l, int n, char* v, int* len) -> int {
    return inject<kGetsockopt>() ? SOCKET_ERROR : kRealSys.getsockopt(s, l, n, v, len);
  };
  h.getsockname = [](SOCKET s, sockaddr* a, int* n) -> int {
    return inject<kGetsockname>() ? SOCKET_ERROR : kRealSys.getsockname(s, a, n);
  };
  h.getpeername = [](SOCKET s, sockaddr* a, int* n) -> int {
    return inject<kGetpeername>() ? SOCKET_ERROR : kRealSys.getpeername(s, a, n);
  };
  h.shutdown = [](SOCKET s, int how) -> int {
    return inject<kShutdown>() ? SOCKET_ERROR : kRealSys.shutdown(s, how);
  };
  h.wsa_recv = [](SOCKET s, LPWSABUF b, DWORD n, LPDWORD bytes, LPDWORD flags, LPWSAOVERLAPPED ov,
                  LPWSAOVERLAPPED_COMPLETION_ROUTINE done) -> int {
    return inject<kRecv>() ? SOCKET_ERROR : kRealSys.wsa_recv(s, b, n, bytes, flags, ov, done);
  };
  h.wsa_send = [](SOCKET s, LPWSABUF b, DWORD n, LPDWORD bytes, DWORD flags, LPWSAOVERLAPPED ov,
                  LPWSAOVERLAPPED_COMPLETION_ROUTINE done) -> int {
    return inject<kSend>() ? SOCKET_ERROR : kRealSys.wsa_send(s, b, n, bytes, flags, ov, done);
  };
  h.wsa_recv_from = [](SOCKET s, LPWSABUF b, DWORD n, LPDWORD bytes, LPDWORD flags, sockaddr* from,
                       LPINT from_len, LPWSAOVERLAPPED ov,
                       LPWSAOVERLAPPED_COMPLETION_ROUTINE done) -> int {
    if (inject<kRecvFrom>()) return SOCKET_ERROR;
    return kRealSys.wsa_recv_from(s, b, n, bytes, flags, from, from_len, ov, done);
  };
  h.wsa_send_to = [](SOCKET s, LPWSABUF b, DWORD n, LPDWORD bytes, DWORD flags, const sockaddr* to,
                     int to_len, LPWSAOVERLAPPED ov, LPWSAOVERLAPPED_COMPLETION_ROUTINE done) -> int {
    if (inject<kSendTo>()) return SOCKET_ERROR;
    return kRealSys.wsa_send_to(s, b, n, bytes, flags, to, to_len, ov, done);
  };
  h.accept_ex = [](SOCKET l, SOCKET a, PVOID buf, DWORD rl, DWORD ll, DWORD rem, LPDWORD bytes,
                   LPOVERLAPPED ov) -> BOOL {
    return inject<kAcceptEx>() ? FALSE : kRealSys.accept_ex(l, a, buf, rl, ll, rem, bytes, ov);
  };
  h.connect_ex = [](SOCKET s, const sockaddr* to, int n, PVOID buf, DWORD sl, LPDWORD bytes,
                    LPOVERLAPPED ov) -> BOOL {
    return inject<kConnectEx>() ? FALSE : kRealSys.connect_ex(s, to, n, buf, sl, bytes, ov);
  };
  return h;
}

// The workload: TCP (listen, dial, accept, write, read, writev, a read deadline, half close,
// end of stream) and UDP (listen, send, receive, a dialed socket). Returns the first error
// an operation reported that the workload did not expect, or nothing. Every wait is bounded
// by a deadline, so a lost completion shows as a wrong error instead of a hang.
Task<std::error_code> workload(Loop& loop) {
  const auto bound = [] { return std::chrono::steady_clock::now() + 10s; };
  Result<Listener> ln = Listen(loop, "tcp4", "127.0.0.1:0");
  if (!ln) co_return ln.error();
  Result<Conn> c = co_await Dial(loop, "tcp4", ln->Addr().to_string(), 10s);
  if (!c) co_return c.error();
  (void)ln->SetDeadline(bound());
  Result<Conn> s = co_await ln->Accept();
  if (!s) co_return s.error();
  (void)c->SetDeadline(bound());
  (void)s->SetDeadline(bound());
  char b[16];
  if (Result<std::size_t> w = co_await c->Write(std::string_view("hello")); !w) co_return w.error();
  std::string got;
  while (got.size() < 5) {
    Result<std::size_t> r = co_await s->Read(std::span<char>(b));
    if (!r) co_return r.error();
    if (*r == 0) co_return std::make_error_code(std::errc::bad_message);
    got.append(b, *r);
  }
  const std::string part1 = "wo", part2 = "rld";
  const std::span<const std::byte> parts[] = {as_bytes(part1), as_bytes(part2)};
  if (Result<std::size_t> w = co_await s->Writev(parts); !w) co_return w.error();
  got.clear();
  while (got.size() < 5) {
    Result<std::size_t> r = co_await c->Read(std::span<char>(b));
    if (!r) co_return r.error();
    if (*r == 0) co_return std::make_error_code(std::errc::bad_message);
    got.append(b, *r);
  }
  if (got != "world") co_return std::make_error_code(std::errc::bad_message);
  // A read deadline fires on a pending receive (cancelled, its packet awaited).
  (void)s->SetReadDeadline(std::chrono::steady_clock::now() + 2ms);
  Result<std::size_t> late = co_await s->Read(std::span<char>(b));
  if (late || late.error() != Errc::deadline_exceeded) co_return late ? std::make_error_code(std::errc::bad_message) : late.error();
  (void)s->SetReadDeadline(bound());
  if (std::error_code ec = c->CloseWrite()) co_return ec;
  Result<std::size_t> eof = co_await s->Read(std::span<char>(b));
  if (!eof) co_return eof.error();
  if (*eof != 0) co_return std::make_error_code(std::errc::bad_message);
  // UDP.
  Result<PacketConn> pa = ListenPacket(loop, "udp4", "127.0.0.1:0");
  if (!pa) co_return pa.error();
  Result<PacketConn> pb = ListenPacket(loop, "udp4", "127.0.0.1:0");
  if (!pb) co_return pb.error();
  (void)pb->SetDeadline(bound());
  if (Result<std::size_t> w = co_await pa->WriteTo(as_bytes(std::string_view("dgram")), pb->LocalAddr()); !w)
    co_return w.error();
  Result<Datagram> d = co_await pb->ReadFrom(std::as_writable_bytes(std::span<char>(b)));
  if (!d) co_return d.error();
  Result<Conn> u = co_await Dial(loop, "udp4", pb->LocalAddr().to_string());
  if (!u) co_return u.error();
  if (Result<std::size_t> w = co_await u->Write(std::string_view("conn")); !w) co_return w.error();
  d = co_await pb->ReadFrom(std::as_writable_bytes(std::span<char>(b)));
  if (!d) co_return d.error();
  co_return std::error_code();
}

// Everything a run must leave as it found it.
struct Baseline {
  long sockets;
  std::size_t pds;
  std::size_t timers;
  std::int64_t allocs;
};
Baseline measure(Loop& loop) {
  return {g.live_sockets, loop.netpoll().cache().in_use(), loop.netpoll().timers().size(),
          netpoll::testing::live_allocation_count()};
}

}  // namespace

TEST_CASE("Winsock fault injection: every call fails once with each error; reported, no leak, no hang") {
  HookGuard guard;
  sys = hooks();
  Loop loop;
  // The clean run: it passes, and counts the calls each injection can aim at.
  REQUIRE(!loop.block_on(workload(loop)));
  REQUIRE(!loop.block_on(workload(loop)));  // warm (slabs, timer heap, lookups)
  const Baseline base = measure(loop);
  int clean[kSysCount];
  for (int& c : g.calls) c = 0;
  REQUIRE(!loop.block_on(workload(loop)));
  for (int i = 0; i < kSysCount; ++i) clean[i] = g.calls[i];
  int runs = 0, reported = 0, carried_on = 0;
  for (int target = 0; target < kSysCount; ++target) {
    for (int nth = 1; nth <= clean[target]; ++nth) {
      for (int err : kRules[static_cast<std::size_t>(target)].errors) {
        const std::string call = kSysName[target];
        CAPTURE(call);
        CAPTURE(nth);
        CAPTURE(err);
        // Twice: the first run of a failure path may fill a cache for good (a vector grows,
        // a lookup is remembered); the second must leave the heap exactly as the first did.
        std::int64_t first_allocs = 0;
        for (int round = 0; round < 2; ++round) {
          for (int& c : g.calls) c = 0;
          g.fired = false;
          g.target = static_cast<Sys>(target);
          g.nth = nth;
          g.err = err;
          g.armed = true;
          const std::error_code ec = loop.block_on(workload(loop));
          g.armed = false;
          ++runs;
          CHECK(g.fired);
          if (ec) {
            ++reported;
            CHECK(ec == winsock_error(static_cast<std::uint32_t>(err)));
          } else {
            ++carried_on;
            CHECK(kRules[static_cast<std::size_t>(target)].may_continue);
          }
          loop.run_once(Timeout::zero());  // the last references drop
          const Baseline now = measure(loop);
          CHECK(now.sockets == base.sockets);
          CHECK(now.pds == base.pds);
          CHECK(now.timers == base.timers);
          if (round == 0) first_allocs = now.allocs;
          else CHECK(now.allocs == first_allocs);
        }
      }
    }
  }
  // Still serving: a clean run after all the failures.
  CHECK(!loop.block_on(workload(loop)));
  MESSAGE("Winsock fault injection: ", runs, " runs, ", reported, " reported the injected error, ",
          carried_on, " carried on (best effort or retried)");
  for (int i = 0; i < kSysCount; ++i) {
    const std::string line = std::string(kSysName[i]) + ": " + std::to_string(clean[i]) + " calls per clean run";
    MESSAGE(line);
  }
  CHECK(runs > 80);
}
