// Syscall fault injection over the whole net path (docs/tests.md, Reliability): every syscall the net layer makes
// through `net::sys` is made to fail once, at every call site a workload reaches, with each
// errno that syscall can return; the operation must then report that error, retry, fall back,
// park or ignore it exactly as documented, and nothing may leak: open descriptors, PollDescs,
// timers, spawned tasks and heap allocations are counted before and after every run (ASan's
// leak checker watches the same runs in the sanitizer configs).
//
// Not built for Windows (POSIX_ONLY): the hook table is the POSIX net layer's. The Winsock
// counterpart is netpoll/net/fault_injection_windows_test.cc (netpoll/net/internal/sys_windows.h).
//
// Table-driven: kRules says, per (syscall, workload step, errno), what must happen; the test
// counts the calls of a clean run, then for each syscall x call index x errno runs the
// workload again with that one call failing.
#include <doctest/doctest.h>

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <system_error>
#include <tuple>
#include <vector>

#include "netpoll/net/net.h"
#include "netpoll/net/internal/sys_posix.h"
#include "test/alloc_counter.h"
#include "test/posix_fd.h"
#include "test/test_util.h"

using namespace netpoll;
using namespace netpoll::net;
using namespace std::chrono_literals;

namespace {

// --- the hook table -------------------------------------------------------------------------------

enum Sys : int {
  kSocket, kAccept4, kAccept, kConnect, kBind, kListen, kRead, kRecvmsg, kSend, kSendmsg,
  kRecvfrom, kSendto, kClose, kShutdown, kSetsockopt, kGetsockopt, kGetsockname, kGetpeername,
  kSetfl, kSetfd, kSysCount
};
const char* const kSysName[kSysCount] = {
    "socket", "accept4", "accept", "connect", "bind", "listen", "read", "recvmsg", "send",
    "sendmsg", "recvfrom", "sendto", "close", "shutdown", "setsockopt", "getsockopt", "getsockname",
    "getpeername", "fcntl(F_SETFL)", "fcntl(F_SETFD)"};

// The workload's steps: an injected failure is judged by the step it hit.
enum Step : int {
  kListenStep, kDialStep, kAcceptStep, kWriteStep, kReadStep, kWritevStep, kRead2Step,
  kDeadlineStep, kCloseWriteStep, kEofStep, kCloseStep, kUdpSetupStep, kUdpSendStep,
  kUdpRecvStep, kUdpCloseStep, kFileConnStep, kFileReadStep, kFileCloseStep, kStepCount,
  kAnyStep = -1
};
const char* const kStepName[kStepCount] = {
    "Listen", "Dial", "Accept", "Write", "Read", "Writev", "Read (client)", "Read deadline",
    "CloseWrite", "Read EOF", "Close", "ListenPacket", "WriteTo", "ReadFrom", "Close (udp)",
    "FileConn", "Read (FileConn)", "Close (FileConn)"};

// Hooks are plain function pointers, so the injection state is global (one Loop thread).
struct Injection {
  bool armed = false;
  Sys target = kSocket;
  int nth = 0;            // fail the nth call of `target` (1-based), counted over the run
  int err = 0;
  bool fallback = false;  // accept4 -> ENOSYS and typed socket() -> EINVAL, always
  // What happened:
  int calls[kSysCount] = {};
  int calls_in_step[kSysCount] = {};
  int step_calls[kStepCount][kSysCount] = {};  // the clean run's call sites
  Step step = kListenStep;
  bool fired = false;
  Step fired_step = kListenStep;
  int fired_call_in_step = 0;
};
Injection g;

void enter(Step s) {
  g.step = s;
  for (int& c : g.calls_in_step) c = 0;
}

// Linux semantics: close(2) releases the descriptor whatever it returns, and a connect()
// interrupted or in progress goes on in the background. So those failures are injected after
// the real call; every other one instead of it.
bool fails_after_call(Sys s, int err) {
  return s == kClose || (s == kConnect && (err == EINTR || err == EINPROGRESS || err == EALREADY));
}

template <Sys S, auto Real, class R, class... A>
R hooked(A... a) {
  ++g.calls[S];
  ++g.calls_in_step[S];
  ++g.step_calls[g.step][S];
  int fail = 0;
  if (g.armed && S == g.target && g.calls[S] == g.nth) {
    g.fired = true;
    g.fired_step = g.step;
    g.fired_call_in_step = g.calls_in_step[S];
    fail = g.err;
  } else if (g.fallback) {
    if constexpr (S == kAccept4) fail = ENOSYS;
    if constexpr (S == kSocket)
      if (std::get<1>(std::tie(a...)) & kSockNonblock) fail = EINVAL;
  }
  if (!fail) return Real(a...);
  if (fails_after_call(S, fail)) (void)Real(a...);
  errno = fail;
  return static_cast<R>(-1);
}

int real_setfl(int fd, int flags) { return ::fcntl(fd, F_SETFL, flags); }
int real_setfd(int fd, int flags) { return ::fcntl(fd, F_SETFD, flags); }

template <Sys S, auto Real, class R, class... A>
void install(R (*&slot)(A...)) {
  slot = &hooked<S, Real, R, A...>;
}

void install_all() {
  install<kSocket, &::socket>(sys.socket);
  install<kAccept4, &accept4_or_enosys>(sys.accept4);
  install<kAccept, &::accept>(sys.accept);
  install<kConnect, &::connect>(sys.connect);
  install<kBind, &::bind>(sys.bind);
  install<kListen, &::listen>(sys.listen);
  install<kRead, &::read>(sys.read);
  install<kRecvmsg, &::recvmsg>(sys.recvmsg);
  install<kSend, &::send>(sys.send);
  install<kSendmsg, &::sendmsg>(sys.sendmsg);
  install<kRecvfrom, &::recvfrom>(sys.recvfrom);
  install<kSendto, &::sendto>(sys.sendto);
  install<kClose, &::close>(sys.close);
  install<kShutdown, &::shutdown>(sys.shutdown);
  install<kSetsockopt, &::setsockopt>(sys.setsockopt);
  install<kGetsockopt, &::getsockopt>(sys.getsockopt);
  install<kGetsockname, &::getsockname>(sys.getsockname);
  install<kGetpeername, &::getpeername>(sys.getpeername);
  install<kSetfl, &real_setfl>(sys.fcntl_setfl);
  install<kSetfd, &real_setfd>(sys.fcntl_setfd);
}

// --- the expected outcomes ---------------------------------------------------------------------------

enum class Outcome {
  same,   // retried, fallen back or deliberately ignored: the step ends as in the clean run
  fails,  // the step reports exactly this errno
  parks,  // the step waits for readiness that never comes: its deadline ends it (or, if an
          // event was still pending, it completes as in the clean run)
};
const char* outcome_name(Outcome o) {
  return o == Outcome::same ? "same as clean" : o == Outcome::fails ? "fails with it" : "parks";
}

struct Rule {
  Sys sys;
  Step step;                       // kAnyStep: every step
  std::initializer_list<int> errs;
  Outcome out;
  int call = 0;                    // the call's index within its step; 0: any
  bool fallback_mode = false;      // the rule belongs to the fallback-mode runs
};

// First match wins. Each syscall's errnos are those its Linux man page lists that can happen
// on a valid descriptor (EBADF/ENOTSOCK/EFAULT would be the caller's bug, not a fault).
const Rule kRules[] = {
    // socket: flags refused -> socket + fcntl fallback; anything else is the Listen/Dial error.
    {kSocket, kAnyStep, {EINVAL, EPROTONOSUPPORT}, Outcome::same},
    {kSocket, kAnyStep, {EACCES, EAFNOSUPPORT, EMFILE, ENFILE, ENOBUFS, ENOMEM}, Outcome::fails},
    // connect: interrupted or in progress -> wait for writability (POSIX: it goes on).
    {kConnect, kAnyStep, {EINTR, EINPROGRESS, EALREADY}, Outcome::same},
    {kConnect, kAnyStep, {EAGAIN, EACCES, EPERM, EADDRINUSE, EADDRNOTAVAIL, ECONNREFUSED,
                          ENETUNREACH, EHOSTUNREACH, ETIMEDOUT}, Outcome::fails},
    {kBind, kAnyStep, {EACCES, EADDRINUSE, EADDRNOTAVAIL, ENOMEM}, Outcome::fails},
    {kListen, kAnyStep, {EADDRINUSE, EOPNOTSUPP}, Outcome::fails},
    // accept4: aborted/interrupted -> next; refused flags -> accept + fcntl; EMFILE/ENFILE ->
    // the pending client is shed and Accept parks (no spin); EAGAIN -> park.
    {kAccept4, kAnyStep, {EINTR, ECONNABORTED, ENOSYS, EINVAL}, Outcome::same},
    {kAccept4, kAnyStep, {EAGAIN, EMFILE, ENFILE}, Outcome::parks},
    {kAccept4, kAnyStep, {ENOBUFS, ENOMEM, EPERM, EPROTO}, Outcome::fails},
    // The data path: EINTR retried, EAGAIN parks, the rest is the operation's error. TCP
    // reads are recvmsg (asking for the bytes left, TCP_INQ); the Unix-domain FileConn's read(2).
    {kRead, kAnyStep, {EINTR}, Outcome::same},
    {kRead, kAnyStep, {EAGAIN}, Outcome::parks},
    {kRead, kAnyStep, {ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, EIO, ENOTCONN, ENOMEM},
     Outcome::fails},
    {kRecvmsg, kAnyStep, {EINTR}, Outcome::same},
    {kRecvmsg, kAnyStep, {EAGAIN}, Outcome::parks},
    {kRecvmsg, kAnyStep, {ECONNRESET, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, EIO, ENOTCONN,
                          ENOMEM}, Outcome::fails},
    {kSend, kAnyStep, {EINTR}, Outcome::same},
    {kSend, kAnyStep, {EAGAIN}, Outcome::parks},
    {kSend, kAnyStep, {ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ENOBUFS, ENOMEM,
                    ENOTCONN}, Outcome::fails},
    {kSendmsg, kAnyStep, {EINTR}, Outcome::same},
    {kSendmsg, kAnyStep, {EAGAIN}, Outcome::parks},
    {kSendmsg, kAnyStep, {ECONNRESET, EPIPE, ETIMEDOUT, EHOSTUNREACH, ENETUNREACH, ENOBUFS, ENOMEM,
                       ENOTCONN}, Outcome::fails},
    {kSendto, kAnyStep, {EINTR}, Outcome::same},
    {kSendto, kAnyStep, {EAGAIN}, Outcome::parks},
    {kSendto, kAnyStep, {ENOBUFS, ENOMEM, EMSGSIZE, ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, EPERM},
     Outcome::fails},
    {kRecvfrom, kAnyStep, {EINTR}, Outcome::same},
    {kRecvfrom, kAnyStep, {EAGAIN}, Outcome::parks},
    {kRecvfrom, kAnyStep, {ECONNREFUSED, EHOSTUNREACH, ENETUNREACH, ENOMEM}, Outcome::fails},
    // close: never retried, its error ignored (the descriptor is gone either way).
    {kClose, kAnyStep, {EINTR, EIO, ENOSPC, EDQUOT}, Outcome::same},
    {kShutdown, kAnyStep, {ENOTCONN, EINVAL}, Outcome::fails},
    // setsockopt: TCP_NODELAY on a new connection is best effort (Go's default too).
    {kSetsockopt, kDialStep, {ENOPROTOOPT, EINVAL, ENOMEM, ENOBUFS}, Outcome::same},
    {kSetsockopt, kAcceptStep, {ENOPROTOOPT, EINVAL, ENOMEM, ENOBUFS}, Outcome::same},
    // ... and so is TCP_INQ before a stream FD's first read: refused, reads are read(2) and
    // never "drained" (netpoll/net/internal/fd_posix.h), nothing else changes.
    {kSetsockopt, kReadStep, {ENOPROTOOPT, EINVAL, ENOMEM, ENOBUFS}, Outcome::same},
    {kSetsockopt, kRead2Step, {ENOPROTOOPT, EINVAL, ENOMEM, ENOBUFS}, Outcome::same},
    {kSetsockopt, kFileReadStep, {ENOPROTOOPT, EINVAL, ENOMEM, ENOBUFS}, Outcome::same},
    {kSetsockopt, kAnyStep, {ENOPROTOOPT, EINVAL, ENOMEM, ENOBUFS}, Outcome::fails},
    // getsockopt: FileConn's SO_ACCEPTCONN probe (call 2) only refuses listeners it can see.
    {kGetsockopt, kFileConnStep, {ENOPROTOOPT, ENOBUFS, EINVAL}, Outcome::same, 2},
    {kGetsockopt, kAnyStep, {ENOPROTOOPT, ENOBUFS, EINVAL}, Outcome::fails},
    // getsockname: a dialed connection that cannot tell its local address is still made
    // (as Go); an error everywhere else (a listener on port 0 could not tell its port).
    {kGetsockname, kDialStep, {ENOBUFS, EINVAL}, Outcome::same},
    {kGetsockname, kAnyStep, {ENOBUFS, EINVAL}, Outcome::fails},
    // getpeername: the connect's confirmation (call 1) saying "not yet" waits for the next
    // writability edge; the remote address of a connected socket (call 2) falls back to the
    // address dialed (a peer that reset at once: ENOTCONN); FileConn accepts an unconnected
    // socket.
    {kGetpeername, kDialStep, {ENOTCONN}, Outcome::parks, 1},
    {kGetpeername, kDialStep, {ENOTCONN, ENOBUFS}, Outcome::same, 2},
    {kGetpeername, kFileConnStep, {ENOTCONN, ENOBUFS}, Outcome::same},
    {kGetpeername, kAnyStep, {ENOTCONN, ENOBUFS}, Outcome::fails},
    {kSetfl, kAnyStep, {EINVAL, EBADF}, Outcome::fails},
    {kSetfd, kAnyStep, {EINVAL, EBADF}, Outcome::fails},
    // Fallback mode (accept4 refused, typed socket() refused): accept's errors as accept4's.
    {kAccept, kAnyStep, {EINTR, ECONNABORTED}, Outcome::same, 0, true},
    {kAccept, kAnyStep, {EAGAIN, EMFILE, ENFILE}, Outcome::parks, 0, true},
    {kAccept, kAnyStep, {ENOBUFS, ENOMEM, EPERM, EPROTO}, Outcome::fails, 0, true},
    {kSetfl, kAnyStep, {EINVAL, EBADF}, Outcome::fails, 0, true},
    {kSetfd, kAnyStep, {EINVAL, EBADF}, Outcome::fails, 0, true},
};

const Rule* find_rule(Sys s, Step step, int err, int call, bool fallback) {
  for (const Rule& r : kRules) {
    if (r.sys != s || r.fallback_mode != fallback) continue;
    if (r.step != kAnyStep && r.step != step) continue;
    if (r.call != 0 && r.call != call) continue;
    for (int e : r.errs)
      if (e == err) return &r;
  }
  return nullptr;
}

std::vector<int> errnos_for(Sys s, bool fallback) {
  std::vector<int> out;
  for (const Rule& r : kRules) {
    if (r.sys != s || r.fallback_mode != fallback) continue;
    for (int e : r.errs)
      if (std::find(out.begin(), out.end(), e) == out.end()) out.push_back(e);
  }
  return out;
}

// --- the workload ----------------------------------------------------------------------------------

using Results = std::array<std::error_code, kStepCount>;
const std::error_code kBadData = std::make_error_code(std::errc::bad_message);

template <class T>
std::error_code ec_of(const Result<T>& r) {
  return r ? std::error_code{} : r.error();
}

struct Deadlines {
  std::chrono::milliseconds normal;  // before anything was injected
  std::chrono::milliseconds after;   // once the fault fired: the rest only has to unwind
  // From this step on `after` applies even before the fault fires: the step a parking fault
  // will hit waits out its deadline, so that one is short (the steps before it keep the long
  // one, so a slow machine cannot make them time out).
  Step short_from = kStepCount;
  std::chrono::milliseconds current() const {
    return g.fired || g.step >= short_from ? after : normal;
  }
  TimePoint next() const { return std::chrono::steady_clock::now() + current(); }
};

std::string payload(std::size_t n, char seed) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>(seed + i * 7);
  return s;
}

// Reads exactly want.size() bytes (or fails); compares them.
Task<std::error_code> read_exact(Conn& c, const std::string& want) {
  std::string got;
  char buf[4096];
  while (got.size() < want.size()) {
    Result<std::size_t> n = co_await c.Read(std::span<char>(buf));
    if (!n) co_return n.error();
    if (*n == 0) co_return kBadData;  // early EOF
    got.append(buf, *n);
  }
  co_return got == want ? std::error_code{} : kBadData;
}

Task<void> workload(Loop& loop, const Deadlines& dl, Results& r) {
  const std::string a = payload(3000, 'a'), b1 = payload(1500, 'b'), b2 = payload(700, 'c');

  enter(kListenStep);
  Result<Listener> lr = Listen(loop, "tcp", "127.0.0.1:0");
  r[kListenStep] = ec_of(lr);
  Listener ln = lr ? std::move(*lr) : Listener{};

  enter(kDialStep);
  const std::string target = ln.valid() ? ln.Addr().to_string() : "127.0.0.1:1";
  Result<Conn> cr = co_await Dial(loop, "tcp", target, dl.current());
  r[kDialStep] = ec_of(cr);
  Conn client = cr ? std::move(*cr) : Conn{};

  enter(kAcceptStep);
  (void)ln.SetDeadline(dl.next());
  Result<Conn> sr = co_await ln.Accept();
  r[kAcceptStep] = ec_of(sr);
  Conn server = sr ? std::move(*sr) : Conn{};

  enter(kWriteStep);
  (void)client.SetDeadline(dl.next());
  (void)server.SetDeadline(dl.next());
  Result<std::size_t> w = co_await client.Write(std::string_view(a));
  r[kWriteStep] = ec_of(w);

  enter(kReadStep);
  (void)server.SetDeadline(dl.next());
  r[kReadStep] = co_await read_exact(server, a);

  enter(kWritevStep);
  (void)server.SetDeadline(dl.next());
  const std::span<const std::byte> bufs[2] = {as_bytes(b1), as_bytes(b2)};
  Result<std::size_t> wv = co_await server.Writev(bufs);
  r[kWritevStep] = ec_of(wv);

  enter(kRead2Step);
  (void)client.SetDeadline(dl.next());
  r[kRead2Step] = co_await read_exact(client, b1 + b2);

  enter(kDeadlineStep);  // nothing to read: the deadline must end the Read
  (void)client.SetReadDeadline(std::chrono::steady_clock::now() + 2ms);
  char one[16];
  Result<std::size_t> dr = co_await client.Read(std::span<char>(one));
  r[kDeadlineStep] = dr ? kBadData : dr.error();

  enter(kCloseWriteStep);
  r[kCloseWriteStep] = client.CloseWrite();

  enter(kEofStep);
  (void)server.SetDeadline(dl.next());
  Result<std::size_t> eof = co_await server.Read(std::span<char>(one));
  r[kEofStep] = !eof ? eof.error() : *eof == 0 ? std::error_code{} : kBadData;

  enter(kCloseStep);
  std::error_code ce = client.Close();
  if (std::error_code e = server.Close(); !ce) ce = e;
  if (std::error_code e = ln.Close(); !ce) ce = e;
  r[kCloseStep] = ce;

  enter(kUdpSetupStep);
  Result<PacketConn> pa = ListenPacket(loop, "udp", "127.0.0.1:0");
  Result<PacketConn> pb = ListenPacket(loop, "udp", "127.0.0.1:0");
  r[kUdpSetupStep] = pa ? ec_of(pb) : pa.error();
  PacketConn ua = pa ? std::move(*pa) : PacketConn{}, ub = pb ? std::move(*pb) : PacketConn{};

  enter(kUdpSendStep);
  (void)ua.SetDeadline(dl.next());
  Result<std::size_t> sent = co_await ua.WriteTo(as_bytes(b2), ub.LocalAddr());
  r[kUdpSendStep] = ec_of(sent);

  enter(kUdpRecvStep);
  (void)ub.SetDeadline(dl.next());
  std::array<std::byte, 2048> dg;
  Result<Datagram> got = co_await ub.ReadFrom(dg);
  r[kUdpRecvStep] = !got ? got.error()
                    : std::string_view(reinterpret_cast<const char*>(dg.data()), got->size) == b2
                        ? std::error_code{}
                        : kBadData;

  enter(kUdpCloseStep);
  std::error_code uce = ua.Close();
  if (std::error_code e = ub.Close(); !uce) uce = e;
  r[kUdpCloseStep] = uce;

  enter(kFileConnStep);
  int sv[2];
  REQUIRE(netpoll::testing::socketpair_cloexec(AF_UNIX, SOCK_STREAM, 0, sv) == 0);
  Result<Conn> fc = FileConn(loop, sv[0]);
  r[kFileConnStep] = ec_of(fc);
  if (!fc) ::close(sv[0]);  // on any error the descriptor stays ours
  Conn file = fc ? std::move(*fc) : Conn{};

  enter(kFileReadStep);
  (void)::send(sv[1], "u", 1, MSG_NOSIGNAL);  // fails if FileConn did (sv[0] closed)
  (void)file.SetDeadline(dl.next());
  r[kFileReadStep] = co_await read_exact(file, "u");

  enter(kFileCloseStep);
  r[kFileCloseStep] = file.Close();
  ::close(sv[1]);
}

// --- one run -------------------------------------------------------------------------------------

struct Counts {
  std::size_t fds;
  std::int64_t allocs;
};
Counts counts() { return {netpoll::testing::open_fd_count(), netpoll::testing::live_allocation_count()}; }

struct RunReport {
  Results r;
  bool leaked = false;
};

// `check`: false for the warm-up run, which opens the process-wide EMFILE reserve descriptor.
RunReport run_once(const Deadlines& dl, bool check = true) {
  RunReport out;
  const Counts before = counts();
  {
    Loop loop;
    loop.block_on(workload(loop, dl, out.r));
    // Everything the workload opened is closed: no PollDesc in use, no timer, no task.
    if (!check) return out;
    CHECK(loop.netpoll().cache().in_use() == 0);
    CHECK(loop.netpoll().timers().size() == 0);
    CHECK(loop.spawned() == 0);
    out.leaked |= loop.netpoll().cache().in_use() != 0 || loop.netpoll().timers().size() != 0;
  }
  const Counts after = counts();
  CHECK(after.fds == before.fds);
  CHECK(after.allocs == before.allocs);
  out.leaked |= after.fds != before.fds || after.allocs != before.allocs;
  return out;
}

// The symbolic name of each errno the plans inject (glibc's strerrorname_np is 2.32+ and
// glibc-only); any other value prints as its number.
std::string errno_name(int e) {
#define NETPOLL_ERRNO_NAME(x) \
  if (e == x) return #x;
  NETPOLL_ERRNO_NAME(EACCES) NETPOLL_ERRNO_NAME(EADDRINUSE) NETPOLL_ERRNO_NAME(EADDRNOTAVAIL)
  NETPOLL_ERRNO_NAME(EAFNOSUPPORT) NETPOLL_ERRNO_NAME(EAGAIN) NETPOLL_ERRNO_NAME(EALREADY)
  NETPOLL_ERRNO_NAME(EBADF) NETPOLL_ERRNO_NAME(ECONNABORTED) NETPOLL_ERRNO_NAME(ECONNREFUSED)
  NETPOLL_ERRNO_NAME(ECONNRESET) NETPOLL_ERRNO_NAME(EDQUOT) NETPOLL_ERRNO_NAME(EFAULT)
  NETPOLL_ERRNO_NAME(EHOSTUNREACH) NETPOLL_ERRNO_NAME(EINPROGRESS) NETPOLL_ERRNO_NAME(EINTR)
  NETPOLL_ERRNO_NAME(EINVAL) NETPOLL_ERRNO_NAME(EMFILE) NETPOLL_ERRNO_NAME(EMSGSIZE)
  NETPOLL_ERRNO_NAME(ENETUNREACH) NETPOLL_ERRNO_NAME(ENFILE) NETPOLL_ERRNO_NAME(ENOBUFS)
  NETPOLL_ERRNO_NAME(ENOMEM) NETPOLL_ERRNO_NAME(ENOPROTOOPT) NETPOLL_ERRNO_NAME(ENOSPC)
  NETPOLL_ERRNO_NAME(ENOSYS) NETPOLL_ERRNO_NAME(ENOTCONN) NETPOLL_ERRNO_NAME(ENOTSOCK)
  NETPOLL_ERRNO_NAME(EOPNOTSUPP) NETPOLL_ERRNO_NAME(EPERM) NETPOLL_ERRNO_NAME(EPIPE)
  NETPOLL_ERRNO_NAME(EPROTO) NETPOLL_ERRNO_NAME(EPROTONOSUPPORT) NETPOLL_ERRNO_NAME(ETIMEDOUT)
#undef NETPOLL_ERRNO_NAME
  return std::to_string(e);
}

struct Totals {
  int runs = 0;
  int leaks = 0;
  int call_sites = 0;
  std::vector<std::pair<Sys, int>> pairs;  // (syscall, errno) injected at least once
};

void run_matrix(bool fallback, Totals& t) {
  net::HookGuard guard;
  install_all();
  const Deadlines clean_dl{5000ms, 50ms};
  // Warm-up (lazy statics: the EMFILE reserve descriptor, error categories) and the clean
  // results each run is compared with.
  g = Injection{};
  g.fallback = fallback;
  (void)run_once(clean_dl, false);
  g = Injection{};
  g.fallback = fallback;
  const RunReport clean = run_once(clean_dl);
  for (int s = 0; s < kStepCount; ++s) {
    CAPTURE(kStepName[s]);
    if (s == kDeadlineStep) CHECK(clean.r[s] == Errc::deadline_exceeded);
    else CHECK(!clean.r[s]);
  }
  int total_calls[kSysCount];
  for (int s = 0; s < kSysCount; ++s) total_calls[s] = g.calls[s];
  int clean_calls[kStepCount][kSysCount];  // the clean run's call sites, per step
  std::memcpy(clean_calls, g.step_calls, sizeof clean_calls);
  if (!fallback) {  // the call sites the table relies on
    CHECK(g.step_calls[kDialStep][kGetsockopt] == 1);   // connect went asynchronous (SO_ERROR)
    CHECK(g.step_calls[kDialStep][kGetpeername] == 2);  // its confirmation, then peername()
    CHECK(g.step_calls[kFileConnStep][kGetsockopt] == 2);
  }

  for (int s = 0; s < kSysCount; ++s) {
    const Sys sys = static_cast<Sys>(s);
    const std::vector<int> errs = errnos_for(sys, fallback);
    if (errs.empty()) continue;
    if (!fallback) CHECK_MESSAGE(total_calls[s] > 0, "the workload never calls ", kSysName[s]);
    t.call_sites += total_calls[s];
    for (int nth = 1; nth <= total_calls[s]; ++nth) {
      for (int err : errs) {
        // A run whose fault makes an operation park waits out its deadlines: keep them short.
        g = Injection{};
        g.fallback = fallback;
        g.armed = true;
        g.target = sys;
        g.nth = nth;
        g.err = err;
        // First a dry classification from the clean run's call sites, to pick the deadlines.
        Step where = kListenStep;
        int in_step = 0;
        for (int st = 0, seen = 0; st < kStepCount; ++st) {
          if (nth <= seen + clean_calls[st][sys]) {
            where = static_cast<Step>(st);
            in_step = nth - seen;
            break;
          }
          seen += clean_calls[st][sys];
        }
        const Rule* planned = find_rule(sys, where, err, in_step, fallback);
        const bool parks = planned && planned->out == Outcome::parks;
        const Deadlines dl = parks ? Deadlines{5000ms, 100ms, where} : clean_dl;
        const std::string name = kSysName[s], en = errno_name(err);
        CAPTURE(name);
        CAPTURE(nth);
        CAPTURE(en);
        CAPTURE(fallback);
        const RunReport rep = run_once(dl);
        ++t.runs;
        t.leaks += rep.leaked;
        if (std::find(t.pairs.begin(), t.pairs.end(), std::make_pair(sys, err)) == t.pairs.end())
          t.pairs.emplace_back(sys, err);

        REQUIRE(g.fired);  // the run reached the same call
        const Rule* rule = find_rule(sys, g.fired_step, err, g.fired_call_in_step, fallback);
        const std::string step = kStepName[g.fired_step];
        CAPTURE(step);
        REQUIRE_MESSAGE(rule, "no rule for this syscall, step and errno");
        const std::string expect = outcome_name(rule->out);
        CAPTURE(expect);
        const std::error_code got = rep.r[g.fired_step];
        const std::string got_s = got.message();
        CAPTURE(got_s);
        // Steps before the fault are unaffected.
        for (int st = 0; st < g.fired_step; ++st) CHECK(rep.r[st] == clean.r[st]);
        switch (rule->out) {
          case Outcome::same: CHECK(got == clean.r[g.fired_step]); break;
          case Outcome::fails: CHECK(got == std::error_code(err, std::generic_category())); break;
          case Outcome::parks:
            CHECK((got == Errc::deadline_exceeded || got == clean.r[g.fired_step]));
            break;
        }
        if (rule->out == Outcome::same)  // nothing after the fault changes either
          for (int st = g.fired_step + 1; st < kStepCount; ++st) CHECK(rep.r[st] == clean.r[st]);
      }
    }
  }
}

}  // namespace

TEST_CASE("fault injection: every net syscall x errno x call site, nothing leaks") {
  Totals t;
  for (bool fallback : {false, true}) {
    run_matrix(fallback, t);
  }
  std::size_t syscalls = 0;
  for (int s = 0; s < kSysCount; ++s)
    for (auto& p : t.pairs)
      if (p.first == s) {
        ++syscalls;
        break;
      }
  MESSAGE("fault injection: ", t.runs, " runs with one injected fault each: ", t.pairs.size(),
          " (syscall, errno) pairs over ", syscalls, " syscalls, at ", t.call_sites,
          " call sites; leaks found: ", t.leaks);
  CHECK(t.leaks == 0);
}
