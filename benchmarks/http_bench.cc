// B3 (docs/benchmarks.md): an HTTP/1.1 plaintext server (13-byte body) driven by real clients.
//
// The servers are //benchmarks:http_bench_server (http_servers.cc): raw epoll, netpoll (exactly
// examples/http_server) and libuv, one protocol engine (examples' http::Session), so only the
// I/O layer differs. Each measured run starts a fresh server process pinned to CPU 0; the
// clients run pinned to CPU 1 (affinity is inherited through posix_spawn):
//
//   wrk -t1 -c50 -d<S>s --latency URL            closed loop, one request in flight per
//                                                 connection: req/s, latency p50 and p99
//   h2load --h1 -c50 -m16 -n<N> URL               16 requests pipelined per connection: req/s
//                                                 (N sized by a short pre-run to last ~S s)
//
// and the server's CPU time (user + system, the kernel's per-process CPU clock, the quantity
// /proc/<pid>/stat reports as utime + stime but in ns) over each client run, divided by the
// requests answered. The client saturates CPU 1 first, so CPU per request is what separates
// the servers; the headline is server CPU ns per request under h2load.
//
// Repetitions interleave raw, netpoll, libuv; median (and min) reported. After the timed
// repetitions, a calibration pass counts the server's syscalls per request under each client
// with `perf stat -e raw_syscalls:sys_enter,... -p PID` (separately, as counting costs time;
// n/a where perf or its tracepoints are unavailable).
//
// Verified on every run, never a time: before the clients, a raw-socket probe (one request,
// 100 pipelined, Connection: close, HTTP/1.0, a malformed request followed by more input) whose
// transcript (Date masked) must be byte-identical for the three servers; wrk must report no
// "Non-2xx or 3xx responses" and no socket errors; h2load's succeeded and 2xx counts must equal
// N with nothing failed, errored or timed out; the server must then exit 0 on SIGTERM.
//
//   http_bench [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl raw,netpoll,libuv]
//              [--requests N] [--no-perf] [--server PATH]
//
// --smoke (under 10 s; the bazel test twin): the probe on each server, then `h2load -n 200`
// and `wrk -d1s` when those clients are installed (skipped with a note when not).
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "benchmarks/harness.h"

extern char** environ;

namespace {

namespace bench = netpoll::bench;
using bench::fail;
using bench::Impl;
using bench::kImplName;
using bench::kImpls;
using bench::kLibuv;
using bench::kNetpoll;
using bench::kRaw;

constexpr int kServerCpu = 0;
constexpr int kClientCpu = 1;
constexpr int kConns = 50;
constexpr int kPipeline = 16;
// h2load -n (the same for every server, so the runs are comparable) is sized by a short
// pre-run to last about --seconds at the rate this machine reaches now, so a loaded machine
// still finishes B3 in minutes. Requests of the pre-run, and the bounds on -n:
constexpr std::uint64_t kSizingRequests = 80'000;
constexpr std::uint64_t kMaxRequests = 6'000'000;
constexpr std::size_t kBodyLen = 13;  // "Hello, World!"

double mono_s() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}

// --- child processes ---------------------------------------------------------------------------

bool on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::stringstream ss(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(ss, dir, ':');)
    if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return true;
  return false;
}

// A child with stdout and stderr in memory files (so no pipe can fill up and stall it), or
// stdout on a pipe (a server: its first line is read live).
struct Child {
  pid_t pid = -1;
  int out = -1;
  int err = -1;
  std::string name;

  Child() = default;
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;
  Child(Child&& o) noexcept : pid(o.pid), out(o.out), err(o.err), name(std::move(o.name)) {
    o.pid = o.out = o.err = -1;
  }
  Child& operator=(Child&& o) noexcept {  // the old child ends with `o`
    std::swap(pid, o.pid);
    std::swap(out, o.out);
    std::swap(err, o.err);
    std::swap(name, o.name);
    return *this;
  }
  ~Child() {
    if (pid > 0) {  // never left running: killed and reaped
      ::kill(pid, SIGKILL);
      int st;
      ::waitpid(pid, &st, 0);
    }
    if (out >= 0) ::close(out);
    if (err >= 0) ::close(err);
  }

  // Waits up to `timeout_s` for the exit; the wait status, or -1 after killing it on timeout.
  int wait(double timeout_s) {
    const double until = mono_s() + timeout_s;
    int st = 0;
    for (;;) {
      const pid_t r = ::waitpid(pid, &st, WNOHANG);
      if (r == pid) break;
      if (r < 0 && errno != EINTR) return -1;
      if (mono_s() > until) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &st, 0);
        pid = -1;
        return -1;
      }
      ::usleep(2000);
    }
    pid = -1;
    return st;
  }
};

std::string read_memfd(int fd) {
  std::string s;
  if (fd < 0) return s;
  char buf[8192];
  for (off_t off = 0;;) {
    const ssize_t n = ::pread(fd, buf, sizeof buf, off);
    if (n <= 0) break;
    s.append(buf, static_cast<std::size_t>(n));
    off += n;
  }
  return s;
}

std::string describe(int status) {
  if (status == -1) return "timed out (killed)";
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return std::string("killed by signal ") + ::strsignal(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// Starts argv (argv[0] looked up on PATH) pinned to `cpu`: the affinity of this thread is
// inherited by the child, so it is switched around the spawn and restored to kClientCpu.
std::optional<Child> spawn(const std::vector<std::string>& argv, int cpu, bool stdout_pipe, std::string* error) {
  Child c;
  c.name = argv[0];
  int out_w = -1;
  if (stdout_pipe) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) {
      *error = bench::errno_text("pipe2");
      return std::nullopt;
    }
    c.out = p[0];
    out_w = p[1];
  } else {
    c.out = out_w = ::memfd_create("stdout", MFD_CLOEXEC);
  }
  c.err = ::memfd_create("stderr", MFD_CLOEXEC);
  if (c.out < 0 || c.err < 0) {
    *error = bench::errno_text("memfd_create");
    if (stdout_pipe && out_w >= 0) ::close(out_w);
    return std::nullopt;
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&fa, c.err, STDERR_FILENO);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  bench::pin_to_cpu(cpu);
  const int e = ::posix_spawnp(&c.pid, args[0], &fa, nullptr, args.data(), environ);
  bench::pin_to_cpu(kClientCpu);
  posix_spawn_file_actions_destroy(&fa);
  if (stdout_pipe) ::close(out_w);
  if (e != 0) {
    c.pid = -1;
    errno = e;
    *error = bench::errno_text(("spawn " + argv[0]).c_str());
    return std::nullopt;
  }
  return c;
}

struct Run {
  int status = -1;
  std::string out, err;
};

// Runs a client to completion (bounded by `timeout_s`).
std::optional<Run> run_client(const std::vector<std::string>& argv, double timeout_s, std::string* error) {
  std::optional<Child> c = spawn(argv, kClientCpu, false, error);
  if (!c) return std::nullopt;
  Run r;
  r.status = c->wait(timeout_s);
  r.out = read_memfd(c->out);
  r.err = read_memfd(c->err);
  return r;
}

// --- the server under test ---------------------------------------------------------------------

// CPU time (user + system, every thread) of another process, in ns: its CPU-time clock, with
// /proc/<pid>/stat (clock ticks) as the fallback. -1 if neither can be read.
struct ProcCpu {
  double total_ns = -1;
  double user_ticks = -1, sys_ticks = -1;  // /proc/<pid>/stat, for the user/system split
};
ProcCpu proc_cpu(pid_t pid) {
  ProcCpu c;
  FILE* f = std::fopen(("/proc/" + std::to_string(pid) + "/stat").c_str(), "r");
  if (f) {
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = 0;
    // Fields after the command name (which may contain spaces): state is field 3, utime 14.
    if (const char* p = std::strrchr(buf, ')')) {
      std::istringstream ss(p + 2);
      std::vector<std::string> t;
      for (std::string s; ss >> s && t.size() < 13;) t.push_back(s);
      if (t.size() == 13) {
        c.user_ticks = std::atof(t[11].c_str());
        c.sys_ticks = std::atof(t[12].c_str());
      }
    }
  }
  clockid_t cid;
  timespec ts;
  if (::clock_getcpuclockid(pid, &cid) == 0 && ::clock_gettime(cid, &ts) == 0)
    c.total_ns = double(ts.tv_sec) * 1e9 + double(ts.tv_nsec);
  else if (c.user_ticks >= 0)
    c.total_ns = (c.user_ticks + c.sys_ticks) * 1e9 / double(::sysconf(_SC_CLK_TCK));
  return c;
}

class Server {
 public:
  // Starts `path --impl <impl> 127.0.0.1:0` on kServerCpu and waits for "listening on".
  static std::optional<Server> start(const std::string& path, Impl impl, std::string* error) {
    std::optional<Child> c = spawn({path, "--impl", kImplName[impl], "127.0.0.1:0"}, kServerCpu, true, error);
    if (!c) return std::nullopt;
    Server s;
    s.child_ = std::move(*c);
    std::string line;
    const double until = mono_s() + 30;  // a sanitizer build starts slowly
    while (line.find('\n') == std::string::npos) {
      pollfd p{s.child_.out, POLLIN, 0};
      const double left = until - mono_s();
      if (left <= 0 || ::poll(&p, 1, static_cast<int>(left * 1000) + 1) <= 0) break;
      char ch;
      if (::read(s.child_.out, &ch, 1) != 1) break;
      line += ch;
    }
    const std::string prefix = "listening on ";
    if (line.rfind(prefix, 0) != 0 || line.back() != '\n') {
      *error = std::string("server did not print its address (got \"") + line + "\"); stderr: " +
               read_memfd(s.child_.err);
      return std::nullopt;
    }
    const std::string addr = line.substr(prefix.size(), line.size() - prefix.size() - 1);
    s.port_ = std::atoi(addr.substr(addr.rfind(':') + 1).c_str());
    if (s.port_ <= 0) {
      *error = "bad address " + addr;
      return std::nullopt;
    }
    return s;
  }

  pid_t pid() const { return child_.pid; }
  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/"; }

  // SIGTERM, then the exit must be a clean 0 (every connection closed; no sanitizer report).
  // An error text, empty when it was.
  std::string stop() {
    ::kill(child_.pid, SIGTERM);
    const int st = child_.wait(30);
    if (st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0) return {};
    return "server " + describe(st) + " after SIGTERM; its stderr:\n" + read_memfd(child_.err);
  }

 private:
  Server() = default;
  Child child_;
  int port_ = 0;
};

// --- the raw-socket probe ----------------------------------------------------------------------

// A blocking client socket (closed by the destructor); fd < 0 if the connect failed.
struct Sock {
  int fd = -1;
  explicit Sock(int port) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return;
    timeval tv{10, 0};  // a server that stops answering fails the probe instead of hanging it
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<std::uint16_t>(port));
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      ::close(fd);
      fd = -1;
    }
  }
  Sock(const Sock&) = delete;
  Sock& operator=(const Sock&) = delete;
  ~Sock() {
    if (fd >= 0) ::close(fd);
  }
};

bool send_all(int fd, std::string_view s) {
  while (!s.empty()) {
    const ssize_t n = ::send(fd, s.data(), s.size(), MSG_NOSIGNAL);
    if (n <= 0) {
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
    s.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// Reads until `want` bytes are buffered (0: until end of stream). False on an error, a
// timeout, or (want > 0) an early end of stream.
bool recv_until(int fd, std::size_t want, std::string& out) {
  char buf[16384];
  while (want == 0 || out.size() < want) {
    const ssize_t n = ::recv(fd, buf, want ? std::min(sizeof buf, want - out.size()) : sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return false;
    if (n == 0) return want == 0;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return true;
}

// Replaces every Date value (the only field that changes between servers and runs) with '#'.
std::string mask_dates(std::string s) {
  for (std::size_t p = 0; (p = s.find("\r\nDate: ", p)) != std::string::npos;) {
    p += 8;
    for (std::size_t i = p; i < s.size() && s[i] != '\r'; ++i) s[i] = '#';
  }
  return s;
}

// Talks to the server over plain sockets; returns the transcript of everything it answered
// (dates masked), or sets `*error`. What a correct server sends is checked here; that the three
// servers send the same is checked by comparing their transcripts.
std::string probe(int port, std::string* error) {
  auto bad = [&](const std::string& what) {
    *error = "probe: " + what;
    return std::string();
  };
  std::string transcript, r;
  {
    Sock c(port);
    if (c.fd < 0) return bad(bench::errno_text("connect"));
    // 1. One request; its response fixes the length `len` of every 200 response.
    if (!send_all(c.fd, "GET / HTTP/1.1\r\nHost: b3\r\n\r\n")) return bad(bench::errno_text("send"));
    while (r.find("\r\n\r\n") == std::string::npos)
      if (!recv_until(c.fd, r.size() + 1, r)) return bad("no complete response head to a GET: " + r);
    const std::size_t head = r.find("\r\n\r\n");
    if (r.rfind("HTTP/1.1 200 OK\r\n", 0) != 0 || r.find("\r\nContent-Length: 13\r\n") == std::string::npos)
      return bad("unexpected response: " + r);
    const std::size_t len = head + 4 + kBodyLen;
    if (!recv_until(c.fd, len, r) || r.substr(head + 4) != "Hello, World!") return bad("unexpected body: " + r);
    const std::string one = mask_dates(r);
    transcript += one;
    // 2. 100 requests pipelined in one send: 100 responses identical to the first.
    std::string pipeline;
    for (int i = 0; i < 100; ++i) pipeline += "GET /p HTTP/1.1\r\nHost: b3\r\n\r\n";
    r.clear();
    if (!send_all(c.fd, pipeline) || !recv_until(c.fd, 100 * len, r))
      return bad(std::to_string(r.size()) + " of " + std::to_string(100 * len) +
                 " bytes answered to 100 pipelined requests");
    const std::string masked = mask_dates(r);
    for (int i = 0; i < 100; ++i)
      if (masked.compare(std::size_t(i) * len, len, one) != 0)
        return bad("pipelined response " + std::to_string(i) + " differs from the first");
    // 3. Connection: close: the response, then end of stream.
    r.clear();
    if (!send_all(c.fd, "GET / HTTP/1.1\r\nConnection: close\r\n\r\n") || !recv_until(c.fd, 0, r) ||
        r.find("\r\nConnection: close\r\n") == std::string::npos || !r.ends_with("Hello, World!"))
      return bad("Connection: close answered \"" + r + "\"");
    transcript += mask_dates(r);
  }
  // 4. HTTP/1.0 without keep-alive: answered, then closed.
  // 5. A malformed request with more input behind it: 400, then a lingering close (the server
  //    half-closes and drains instead of resetting, so the 400 arrives intact before the EOF).
  for (std::string_view req : {std::string_view("GET / HTTP/1.0\r\n\r\n"),
                               std::string_view("BROKEN\r\n\r\nGET / HTTP/1.1\r\n\r\n")}) {
    Sock c(port);
    r.clear();
    if (c.fd < 0 || !send_all(c.fd, req) || !recv_until(c.fd, 0, r) || r.empty())
      return bad("no response, or no clean end of stream, to " + std::string(req.substr(0, 14)) + ": " +
                 std::strerror(errno));
    transcript += mask_dates(r);
  }
  if (transcript.find("HTTP/1.1 400 Bad Request\r\n") == std::string::npos)
    return bad("a malformed request was not answered 400: " + transcript);
  return transcript;
}

// --- clients and their output ------------------------------------------------------------------

// "368.00us", "1.23ms", "2.00s", "1.5m" -> microseconds; -1 if unparsable.
double duration_us(const std::string& s) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  const std::string unit = end;
  if (unit == "us") return v;
  if (unit == "ms") return v * 1e3;
  if (unit == "s") return v * 1e6;
  if (unit == "m") return v * 60e6;
  return -1;
}

struct WrkResult {
  double rps = -1, p50_us = -1, p99_us = -1;
  std::uint64_t requests = 0;
};

// Parses wrk --latency output; an error text when the run was not entirely correct.
std::string parse_wrk(const Run& run, WrkResult* w) {
  if (run.status == -1 || !WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    return "wrk " + describe(run.status) + ": " + run.out + run.err;
  std::istringstream in(run.out);
  for (std::string line; std::getline(in, line);) {
    std::istringstream ls(line);
    std::string a, b;
    ls >> a >> b;
    if (a == "50%") w->p50_us = duration_us(b);
    else if (a == "99%") w->p99_us = duration_us(b);
    else if (a == "Requests/sec:") w->rps = std::atof(b.c_str());
    else if (b == "requests") w->requests = std::strtoull(a.c_str(), nullptr, 10);
    // Printed by wrk only when non-zero.
    else if (line.find("Non-2xx or 3xx responses") != std::string::npos || a == "Socket")
      return "wrk reported: " + line;
  }
  if (w->rps <= 0 || w->requests == 0 || w->p50_us < 0 || w->p99_us < 0)
    return "wrk output not understood (or no request answered):\n" + run.out;
  return {};
}

struct H2Result {
  double rps = -1;
};

std::string parse_h2load(const Run& run, std::uint64_t n, H2Result* h) {
  if (run.status == -1 || !WIFEXITED(run.status) || WEXITSTATUS(run.status) != 0)
    return "h2load " + describe(run.status) + ": " + run.out + run.err;
  bool counts = false, codes = false;
  std::istringstream in(run.out);
  for (std::string line; std::getline(in, line);) {
    unsigned long long total, started, done, ok, failed, errored, timeout, s2, s3, s4, s5;
    double secs, rps;
    char unit[8];
    // "finished in 2.87ms, 69759.33 req/s, ..." (the duration's unit varies)
    if (std::sscanf(line.c_str(), "finished in %lf%7[^,], %lf req/s", &secs, unit, &rps) == 3) {
      h->rps = rps;
    } else if (std::sscanf(line.c_str(),
                           "requests: %llu total, %llu started, %llu done, %llu succeeded, %llu failed, "
                           "%llu errored, %llu timeout",
                           &total, &started, &done, &ok, &failed, &errored, &timeout) == 7) {
      if (total != n || done != n || ok != n || failed || errored || timeout) return "h2load: " + line;
      counts = true;
    } else if (std::sscanf(line.c_str(), "status codes: %llu 2xx, %llu 3xx, %llu 4xx, %llu 5xx", &s2, &s3, &s4,
                           &s5) == 4) {
      if (s2 != n || s3 || s4 || s5) return "h2load: " + line;
      codes = true;
    }
  }
  if (h->rps <= 0 || !counts || !codes) return "h2load output not understood:\n" + run.out;
  return {};
}

std::vector<std::string> wrk_argv(const std::string& url, int secs) {
  // --timeout: wrk counts a response slower than this (default 2 s) as a socket error, which
  // fails the run; a sanitizer build on a busy machine must not trip it.
  return {"wrk", "-t1", "-c" + std::to_string(kConns), "-d" + std::to_string(secs) + "s", "--timeout", "10s",
          "--latency", url};
}
std::vector<std::string> h2load_argv(const std::string& url, std::uint64_t n) {
  return {"h2load", "--h1", "-c" + std::to_string(kConns), "-m" + std::to_string(kPipeline),
          "-n" + std::to_string(n), url};
}

// --- one measured run ----------------------------------------------------------------------------

// Server CPU per request over one client run: the total, and the user-space part (the I/O
// layer and the parser; the kernel's share is the same syscalls for all three servers).
struct CpuPerRequest {
  double total_ns = -1, user_ns = -1;
};

struct Sample {
  double wrk_rps = -1, wrk_p50_us = -1, wrk_p99_us = -1, h2_rps = -1;
  CpuPerRequest wrk_cpu, h2_cpu;
};

struct Config {
  std::string server;
  bool smoke = false;
  bool have_wrk = false, have_h2load = false;
  int wrk_secs = 3;
  std::uint64_t h2_requests = 0;
  std::string transcript[kImpls];  // the first probe's, per server
};

// The server's CPU per request over the client run `client` (which returns the requests
// answered, 0 on failure). The user/system split comes from /proc/<pid>/stat's tick-based
// utime and stime (statistical, a few percent over a run of seconds).
template <class F>
CpuPerRequest cpu_per_request(const Server& s, F&& client) {
  CpuPerRequest c;
  const ProcCpu a = proc_cpu(s.pid());
  const std::uint64_t requests = client();
  const ProcCpu b = proc_cpu(s.pid());
  if (requests == 0 || a.total_ns < 0 || b.total_ns < 0) return c;
  c.total_ns = (b.total_ns - a.total_ns) / double(requests);
  const double u = b.user_ticks - a.user_ticks, k = b.sys_ticks - a.sys_ticks;
  if (a.user_ticks >= 0 && b.user_ticks >= 0 && u + k > 0) c.user_ns = c.total_ns * u / (u + k);
  return c;
}

Sample run_once(Config& cfg, Impl impl) {
  Sample smp;
  const std::string who = std::string(kImplName[impl]) + ": ";
  std::string err;
  std::optional<Server> s = Server::start(cfg.server, impl, &err);
  if (!s) {
    fail(who + err);
    return smp;
  }
  // Protocol check first: every run, identical (dates masked) for the three servers.
  const std::string t = probe(s->port(), &err);
  if (!err.empty()) fail(who + err);
  else if (cfg.transcript[impl].empty()) cfg.transcript[impl] = t;
  else if (cfg.transcript[impl] != t) fail(who + "probe transcript changed between runs");

  if (err.empty() && cfg.have_wrk) {
    WrkResult w;
    smp.wrk_cpu = cpu_per_request(*s, [&]() -> std::uint64_t {
      std::string e;
      std::optional<Run> r = run_client(wrk_argv(s->url(), cfg.wrk_secs), cfg.wrk_secs + 60, &e);
      if (r) e = parse_wrk(*r, &w);
      if (!e.empty()) {
        fail(who + e);
        return 0;
      }
      return w.requests;
    });
    smp.wrk_rps = w.rps;
    smp.wrk_p50_us = w.p50_us;
    smp.wrk_p99_us = w.p99_us;
  }
  if (err.empty() && cfg.have_h2load) {
    H2Result h;
    smp.h2_cpu = cpu_per_request(*s, [&]() -> std::uint64_t {
      std::string e;
      std::optional<Run> r = run_client(h2load_argv(s->url(), cfg.h2_requests), 120, &e);
      if (r) e = parse_h2load(*r, cfg.h2_requests, &h);
      if (!e.empty()) {
        fail(who + e);
        return 0;
      }
      return cfg.h2_requests;
    });
    smp.h2_rps = h.rps;
  }
  if (const std::string e = s->stop(); !e.empty()) fail(who + e);
  return smp;
}

// --- syscall calibration (perf stat on the server) ----------------------------------------------

// Syscall counters: the total and the ones an event loop's steady state is made of.
constexpr std::array<const char*, 8> kSysEvents = {
    "raw_syscalls:sys_enter",        "syscalls:sys_enter_epoll_wait", "syscalls:sys_enter_epoll_pwait",
    "syscalls:sys_enter_read",       "syscalls:sys_enter_recvfrom",   "syscalls:sys_enter_write",
    "syscalls:sys_enter_sendto",     "syscalls:sys_enter_epoll_ctl"};
constexpr std::array<const char*, 8> kSysNames = {"total", "epoll_wait", "epoll_pwait", "read",
                                                  "recvfrom", "write", "sendto", "epoll_ctl"};
using SysCounts = std::array<double, kSysEvents.size()>;  // per request; -1: not counted

// Runs `client` (returning the requests answered) with `perf stat -p <server>` counting.
template <class F>
SysCounts count_syscalls(const Server& s, F&& client, std::string* error) {
  SysCounts per{};
  per.fill(-1);
  std::string events;
  for (const char* e : kSysEvents) events += std::string(events.empty() ? "" : ",") + e;
  std::optional<Child> perf =
      spawn({"perf", "stat", "-x", ",", "-e", events, "-p", std::to_string(s.pid())}, kClientCpu, false, error);
  if (!perf) return per;
  ::usleep(300'000);  // perf attaches asynchronously; the server is idle meanwhile
  const std::uint64_t requests = client();
  ::kill(perf->pid, SIGINT);
  const int st = perf->wait(30);
  const std::string out = read_memfd(perf->err);  // -x output goes to stderr
  if (requests == 0) return per;
  // perf stat prints its counts on SIGINT and then re-raises it: that is its normal end.
  const bool ok = st != -1 && ((WIFEXITED(st) && WEXITSTATUS(st) == 0) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGINT));
  if (!ok) {
    *error = "perf stat " + describe(st) + ": " + out;
    return per;
  }
  std::istringstream in(out);
  for (std::string line; std::getline(in, line);) {
    // "<count>,<unit>,<event>,..." ("<not supported>" etc. for an unavailable counter)
    const std::size_t c1 = line.find(','), c2 = line.find(',', c1 + 1), c3 = line.find(',', c2 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    const std::string ev = line.substr(c2 + 1, c3 == std::string::npos ? std::string::npos : c3 - c2 - 1);
    for (std::size_t k = 0; k < kSysEvents.size(); ++k)
      if (ev == kSysEvents[k] && std::isdigit(static_cast<unsigned char>(line[0])))
        per[k] = std::atof(line.c_str()) / double(requests);
  }
  return per;
}

struct Calibration {
  SysCounts wrk, h2;
};

Calibration calibrate(const Config& cfg, Impl impl) {
  Calibration cal;
  cal.wrk.fill(-1);
  cal.h2.fill(-1);
  std::string err;
  std::optional<Server> s = Server::start(cfg.server, impl, &err);
  if (!s) {
    fail(std::string(kImplName[impl]) + ": " + err);
    return cal;
  }
  // A third of a timed run's requests: counting is exact, so a shorter run suffices.
  const std::uint64_t unit = kConns * kPipeline;
  const std::uint64_t n = std::max<std::uint64_t>(unit, cfg.h2_requests / 3 / unit * unit);
  std::string client_err;
  cal.wrk = count_syscalls(*s, [&]() -> std::uint64_t {
    WrkResult w;
    std::optional<Run> r = run_client(wrk_argv(s->url(), 1), 61, &client_err);
    if (r) client_err = parse_wrk(*r, &w);
    return client_err.empty() ? w.requests : 0;
  }, &err);
  if (err.empty() && client_err.empty())
    cal.h2 = count_syscalls(*s, [&]() -> std::uint64_t {
      H2Result h;
      std::optional<Run> r = run_client(h2load_argv(s->url(), n), 120, &client_err);
      if (r) client_err = parse_h2load(*r, n, &h);
      return client_err.empty() ? n : 0;
    }, &err);
  // The clients are checked as in the timed runs: a wrong answer is a failure, while perf
  // being unavailable only leaves the figures n/a.
  if (!client_err.empty()) fail(std::string(kImplName[impl]) + ": " + client_err);
  if (!err.empty()) std::fprintf(stderr, "  [B3 syscall calibration, %s: %s]\n", kImplName[impl], err.c_str());
  if (const std::string e = s->stop(); !e.empty()) fail(std::string(kImplName[impl]) + ": " + e);
  return cal;
}

// --- sizing h2load's run -------------------------------------------------------------------------

Impl first_enabled(const bench::Options& o) {
  for (int k = 0; k < kImpls; ++k)
    if (o.enabled[k]) return static_cast<Impl>(k);
  return kRaw;
}

// h2load's rate (req/s) against a fresh `impl` server over kSizingRequests; -1 on failure
// (reported).
double h2load_rate(const Config& cfg, Impl impl) {
  std::string err;
  std::optional<Server> s = Server::start(cfg.server, impl, &err);
  if (!s) {
    fail(std::string(kImplName[impl]) + ": " + err);
    return -1;
  }
  H2Result h;
  std::optional<Run> r = run_client(h2load_argv(s->url(), kSizingRequests), 120, &err);
  if (r) err = parse_h2load(*r, kSizingRequests, &h);
  if (!err.empty()) fail(std::string(kImplName[impl]) + ": " + err);
  if (const std::string e = s->stop(); !e.empty()) fail(std::string(kImplName[impl]) + ": " + e);
  return err.empty() ? h.rps : -1;
}

// --- where the server binary is ----------------------------------------------------------------

std::string find_server(const std::string& given) {
  if (!given.empty()) return given;
  std::vector<std::string> candidates;
  // Under `bazel test` / `bazel run`: the runfiles tree (a data dependency).
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"})
    if (const char* d = std::getenv(var)) candidates.push_back(std::string(d) + "/netpoll/benchmarks/http_bench_server");
  // Run directly from bazel-bin (tools/bench): built next to this binary.
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    std::string dir(self);
    dir.resize(dir.rfind('/'));
    candidates.push_back(dir + "/http_bench_server");
    candidates.push_back(std::string(self) + ".runfiles/netpoll/benchmarks/http_bench_server");
  }
  for (const std::string& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) return c;
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  // B3's own defaults (a run is two clients of a few seconds each): 3 x 3 s unless given.
  bool seconds_given = false, reps_given = false;
  for (int i = 1; i < argc; ++i) {
    seconds_given |= std::string_view(argv[i]) == "--seconds";
    reps_given |= std::string_view(argv[i]) == "--reps";
  }
  bench::Options o = bench::parse_options(argc, argv, " [--requests N] [--no-perf] [--server PATH]");
  if (!seconds_given) o.seconds = 3;
  if (!reps_given && !o.smoke) o.reps = 3;
  Config cfg;
  bool use_perf = !o.smoke;
  std::string server_path;
  std::uint64_t requests = 0;
  for (std::size_t i = 0; i < o.rest.size(); ++i) {
    if (o.rest[i] == "--no-perf") use_perf = false;
    else if (o.rest[i] == "--requests" && i + 1 < o.rest.size()) requests = std::strtoull(o.rest[++i].c_str(), nullptr, 10);
    else if (o.rest[i] == "--server" && i + 1 < o.rest.size()) server_path = o.rest[++i];
    else {
      std::fprintf(stderr, "http_bench: unknown argument %s\n", o.rest[i].c_str());
      return 2;
    }
  }
  cfg.server = find_server(server_path);
  if (cfg.server.empty()) {
    std::fprintf(stderr, "http_bench: cannot find http_bench_server (pass --server PATH)\n");
    return 2;
  }
  cfg.smoke = o.smoke;
  cfg.have_wrk = on_path("wrk");
  cfg.have_h2load = on_path("h2load");
  cfg.wrk_secs = o.smoke ? 1 : std::max(1, static_cast<int>(std::lround(o.seconds)));
  // h2load needs at least one request per connection; a multiple of c*m keeps them even.
  const std::uint64_t unit = kConns * kPipeline;
  cfg.h2_requests = o.smoke ? 200 : requests ? std::max<std::uint64_t>(requests, kConns) : 0;
  if (!cfg.have_wrk || !cfg.have_h2load) {
    const std::string missing = std::string(cfg.have_wrk ? "" : "wrk ") + (cfg.have_h2load ? "" : "h2load (nghttp2-client)");
    if (!o.smoke) {
      std::fprintf(stderr, "http_bench: missing client(s): %s (tools/bench installs them)\n", missing.c_str());
      return 1;
    }
    std::fprintf(stderr, "http_bench: %s not installed: smoke run checks the servers with the raw-socket probe only\n",
                 missing.c_str());
  }
  use_perf = use_perf && on_path("perf");
  bench::pin_to_cpu(kClientCpu);
  const double t0 = mono_s();
  std::fprintf(stderr,
               "B3 HTTP/1.1 plaintext: server on CPU %d, clients on CPU %d; wrk -t1 -c%d -d%ds; h2load --h1 -c%d -m%d%s\n",
               kServerCpu, kClientCpu, kConns, cfg.wrk_secs, kConns, kPipeline,
               o.smoke ? " (smoke: figures meaningless)" : "");

  if (cfg.h2_requests == 0) {
    const double rate = h2load_rate(cfg, first_enabled(o));
    if (rate <= 0) {
      std::fprintf(stderr, "http_bench: the h2load sizing run failed\n");
      return 1;
    }
    cfg.h2_requests = std::clamp<std::uint64_t>(std::uint64_t(rate * o.seconds) / unit * unit, unit, kMaxRequests);
  }
  std::fprintf(stderr, "  [B3 h2load -n%llu]\n", static_cast<unsigned long long>(cfg.h2_requests));

  std::vector<Sample> samples[kImpls];
  std::vector<double> headline[kImpls];
  bench::interleave(o, "B3 server CPU ns/req (h2load)", [&](Impl k, int) {
    samples[k].push_back(run_once(cfg, k));
    return samples[k].back().h2_cpu.total_ns;
  }, headline);

  // The three servers speak the same protocol byte for byte (Date aside).
  for (int k = 0; k < kImpls; ++k)
    for (int j = 0; j < k; ++j)
      if (!cfg.transcript[k].empty() && !cfg.transcript[j].empty() && cfg.transcript[k] != cfg.transcript[j]) {
        const auto [a, b] = std::mismatch(cfg.transcript[j].begin(), cfg.transcript[j].end(), cfg.transcript[k].begin(),
                                          cfg.transcript[k].end());
        const std::size_t at = static_cast<std::size_t>(a - cfg.transcript[j].begin());
        fail(std::string("probe transcripts of ") + kImplName[j] + " and " + kImplName[k] + " differ at byte " +
             std::to_string(at) + ": \"" + cfg.transcript[j].substr(at, 40) + "\" vs \"" +
             cfg.transcript[k].substr(static_cast<std::size_t>(b - cfg.transcript[k].begin()), 40) + "\"");
      }

  Calibration cal[kImpls];
  for (auto& c : cal) c.wrk.fill(-1), c.h2.fill(-1);
  if (use_perf && !bench::failures()) {
    std::fprintf(stderr, "  [B3 syscall calibration: perf stat -p <server> under wrk -d1s and h2load]\n");
    for (int k = 0; k < kImpls; ++k)
      if (o.enabled[k]) cal[k] = calibrate(cfg, static_cast<Impl>(k));
  }

  using Arr = double[kImpls];
  // Median over the repetitions of get(sample) * scale, skipping runs that measured nothing.
  auto med = [&](auto get, double scale, Arr& out) {
    for (int k = 0; k < kImpls; ++k) {
      std::vector<double> v;
      for (const Sample& s : samples[k])
        if (get(s) >= 0) v.push_back(get(s) * scale);
      out[k] = o.enabled[k] && !v.empty() ? bench::median(v) : -1;
    }
  };
  Arr wrk_rps, wrk_p50, wrk_p99, wrk_cpu, wrk_user, h2_rps, h2_cpu, h2_user, h2_cpu_ns, h2_cpu_min, h2_cpu_min_us;
  med([](const Sample& s) { return s.wrk_rps; }, 1, wrk_rps);
  med([](const Sample& s) { return s.wrk_p50_us; }, 1, wrk_p50);
  med([](const Sample& s) { return s.wrk_p99_us; }, 1, wrk_p99);
  med([](const Sample& s) { return s.wrk_cpu.total_ns; }, 1e-3, wrk_cpu);
  med([](const Sample& s) { return s.wrk_cpu.user_ns; }, 1e-3, wrk_user);
  med([](const Sample& s) { return s.h2_rps; }, 1, h2_rps);
  med([](const Sample& s) { return s.h2_cpu.total_ns; }, 1e-3, h2_cpu);
  med([](const Sample& s) { return s.h2_cpu.user_ns; }, 1e-3, h2_user);
  med([](const Sample& s) { return s.h2_cpu.total_ns; }, 1, h2_cpu_ns);
  for (int k = 0; k < kImpls; ++k) {
    std::vector<double> v;
    for (double x : headline[k])
      if (x >= 0) v.push_back(x);
    h2_cpu_min[k] = o.enabled[k] && !v.empty() ? bench::minimum(v) : -1;  // ns
    h2_cpu_min_us[k] = h2_cpu_min[k] < 0 ? -1 : h2_cpu_min[k] / 1e3;
  }
  Arr sys_wrk[kSysEvents.size()], sys_h2[kSysEvents.size()];
  for (std::size_t e = 0; e < kSysEvents.size(); ++e)
    for (int k = 0; k < kImpls; ++k) {
      sys_wrk[e][k] = cal[k].wrk[e];
      sys_h2[e][k] = cal[k].h2[e];
    }

  const std::string reps = " (median of " + std::to_string(o.reps) + ")";
  std::printf("%s", bench::table_header("B3 HTTP/1.1 plaintext, server CPU 0, client CPU 1").c_str());
  std::printf("%s", bench::table_row("wrk -t1 -c50 req/s" + reps, wrk_rps, 0).c_str());
  std::printf("%s", bench::table_row("wrk latency p50, us", wrk_p50, 0).c_str());
  std::printf("%s", bench::table_row("wrk latency p99, us", wrk_p99, 0).c_str());
  std::printf("%s", bench::table_row("wrk: server CPU us/request", wrk_cpu, 3).c_str());
  std::printf("%s", bench::table_row("wrk: server CPU us/request, user space", wrk_user, 3).c_str());
  std::printf("%s", bench::table_row("h2load --h1 -c50 -m16 req/s" + reps, h2_rps, 0).c_str());
  std::printf("%s", bench::table_row("h2load: server CPU us/request (headline)", h2_cpu, 3).c_str());
  std::printf("%s", bench::table_row("h2load: server CPU us/request, min", h2_cpu_min_us, 3).c_str());
  std::printf("%s", bench::table_row("h2load: server CPU us/request, user space", h2_user, 3).c_str());
  std::printf("%s", bench::table_row("wrk: server syscalls/request (perf)", sys_wrk[0], 2, false).c_str());
  std::printf("%s", bench::table_row("h2load: server syscalls/request (perf)", sys_h2[0], 3, false).c_str());
  if (use_perf) {
    // The breakdown, where it was counted: which calls make up the totals above.
    for (std::size_t e = 1; e < kSysEvents.size(); ++e) {
      bool any = false;
      for (int k = 0; k < kImpls; ++k) any |= sys_wrk[e][k] > 0.005 || sys_h2[e][k] > 0.0005;
      if (!any) continue;
      std::printf("%s", bench::table_row(std::string("  ") + kSysNames[e] + "/request, wrk", sys_wrk[e], 2, false).c_str());
      std::printf("%s", bench::table_row(std::string("  ") + kSysNames[e] + "/request, h2load", sys_h2[e], 3, false).c_str());
    }
  }

  bench::Entry e;
  e.id = "B3";
  e.name = "HTTP/1.1 plaintext server driven by wrk -c50 and h2load -c50 -m16, server CPU 0, client CPU 1";
  e.metric = "server CPU ns per request under h2load --h1 -c50 -m16 (median of " + std::to_string(o.reps) + " x " +
             std::to_string(cfg.h2_requests) + " requests)";
  e.unit = "ns/request";
  e.higher_is_better = false;
  for (int k = 0; k < kImpls; ++k) e.value[k] = h2_cpu_ns[k];
  std::string sys_json;
  for (std::size_t k = 1; k < kSysEvents.size(); ++k)
    sys_json += std::string(", \"") + kSysNames[k] + "\": {\"wrk\": " + bench::triple_json(sys_wrk[k], 3) +
                ", \"h2load\": " + bench::triple_json(sys_h2[k], 4) + "}";
  e.extra = "\"min\": " + bench::triple_json(h2_cpu_min, 1) + ", \"wrk_requests_per_s\": " + bench::triple_json(wrk_rps, 0) +
            ", \"wrk_latency_p50_us\": " + bench::triple_json(wrk_p50, 1) +
            ", \"wrk_latency_p99_us\": " + bench::triple_json(wrk_p99, 1) +
            ", \"wrk_server_cpu_us_per_request\": " + bench::triple_json(wrk_cpu, 4) +
            ", \"wrk_server_user_cpu_us_per_request\": " + bench::triple_json(wrk_user, 4) +
            ", \"h2load_requests_per_s\": " + bench::triple_json(h2_rps, 0) +
            ", \"h2load_server_cpu_us_per_request\": " + bench::triple_json(h2_cpu, 4) +
            ", \"h2load_server_user_cpu_us_per_request\": " + bench::triple_json(h2_user, 4) +
            ", \"server_syscalls_per_request_perf\": {\"wrk\": " + bench::triple_json(sys_wrk[0], 3) +
            ", \"h2load\": " + bench::triple_json(sys_h2[0], 4) + "}" + ", \"syscall_breakdown_per_request\": {" +
            sys_json.substr(2) + "}" + ", \"wrk_seconds\": " + std::to_string(cfg.wrk_secs) +
            ", \"h2load_requests\": " + std::to_string(cfg.h2_requests);
  if (!bench::write_entry(o, e)) fail("could not write the B3 result");
  std::fprintf(stderr, "  [B3 took %.1f s]\n", mono_s() - t0);
  return bench::exit_status("http_bench");
}
