// What every suite benchmark (B1-B9, docs/benchmarks.md) shares: CPU pinning and time, statistics,
// the interleaved repetition loop, formatting, and the result entry each one writes.
//
// Results: each benchmark writes one JSON object to <results dir>/<id>.json (one line, the
// shape of an element of latest.json's "benchmarks" array). benchmarks/report assembles them
// into latest.json, a markdown summary and the ratio chart. So a subset run (--only) replaces
// only its own entries, and no benchmark parses another's output.
#pragma once

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

namespace netpoll::bench {

// The implementations a suite benchmark compares, in the order they interleave and appear in
// tables. Adding one: an enumerator here, its name in kImplName (its JSON key and --impl
// name), its ratio in kRatios if netpoll is to be compared with it (and the chart's colour
// for that ratio, report.cc's kRatioColor: a static_assert asks), and its echo server (a
// case of EchoServer::main's switch: -Wswitch asks). Every benchmark on the echo servers
// (B1, B2, B4, B5) then runs it; B3 lists its implementations itself (http_bench.cc's
// kHttpImpls, servers in http_servers.cc), as B6-B9 do (kClassicImpls).
//   raw         hand-written edge-triggered epoll loop: the epoll floor
//   raw_uring   hand-written liburing loop: the io_uring floor
//   netpoll     the library on epoll (in the io_uring build, its Loops forced onto epoll)
//   netpoll_uring  the library on io_uring (needs the io_uring build, --config=opt_uring, as
//               tools/bench makes it; elsewhere its runs fail saying so)
//   libuv       Debian's libuv
//   asio        standalone Asio, its default (epoll) reactor; a separate server process
//   asio_uring  standalone Asio built with ASIO_HAS_IO_URING + ASIO_DISABLE_EPOLL; a separate
//               server process (the two Asio builds cannot share a binary: echo_asio.h)
enum Impl : int { kRaw, kRawUring, kNetpoll, kNetpollUring, kLibuv, kAsio, kAsioUring, kImpls };
inline constexpr const char* kImplName[kImpls] = {"raw",   "raw_uring", "netpoll",   "netpoll_uring",
                                                  "libuv", "asio",      "asio_uring"};
static_assert(kImplName[kImpls - 1] != nullptr, "a name per Impl");

// A set of implementations (indexed by Impl).
using ImplSet = std::array<bool, kImpls>;
constexpr ImplSet impl_set(std::initializer_list<Impl> l) {
  ImplSet s{};
  for (Impl k : l) s[k] = true;
  return s;
}
inline constexpr ImplSet kAllImpls = [] {
  ImplSet s{};
  for (bool& b : s) b = true;
  return s;
}();
// The three the loop-level benchmarks (B6-B9) compare: they have no io_uring or Asio variant.
inline constexpr ImplSet kClassicImpls = impl_set({kRaw, kNetpoll, kLibuv});

// The ratios reported (JSON "<of>_over_<to>", and the tables' "of/to" columns), always of the
// metric itself: netpoll against each other implementation. The first two are the suite's
// original ratios (docs/benchmarks.md, the README read them).
struct RatioPair {
  Impl of, to;
};
// netpoll_uring against the io_uring floor, the epoll floor and Asio's io_uring build: issue
// 18's goals.
inline constexpr RatioPair kRatios[] = {{kNetpoll, kRaw},       {kNetpoll, kLibuv},
                                        {kNetpoll, kRawUring},  {kNetpoll, kAsio},
                                        {kNetpoll, kAsioUring}, {kNetpollUring, kRawUring},
                                        {kNetpollUring, kRaw},  {kNetpollUring, kAsioUring}};

// Pins the calling thread to `cpu` (best effort: a machine with fewer CPUs still runs).
void pin_to_cpu(int cpu) noexcept;
// CPU time (user + system) of the calling thread / the whole process, in ns.
double thread_cpu_ns() noexcept;
double process_cpu_ns() noexcept;
// CLOCK_MONOTONIC in seconds (how long a benchmark took).
double mono_s() noexcept;
// CPU time (user + system, every thread) of another process, in ns: its CPU-time clock, with
// /proc/<pid>/stat (clock ticks) as the fallback; -1 if neither can be read. The ticks are
// kept for the user / system split (-1 if /proc could not be read).
struct ProcCpu {
  double total_ns = -1;
  double user_ticks = -1, sys_ticks = -1;
};
ProcCpu proc_cpu(pid_t pid);
std::string errno_text(const char* what);
// Descriptors this process has open (the entries of /proc/self/fd, not counting the one that
// lists them); -1 if /proc is unavailable.
int open_fd_count();
// Bytes this process's heap has handed out: in-use chunks (with malloc's per-chunk overhead)
// and mmapped blocks, over every arena (mallinfo2).
double heap_bytes() noexcept;

double median(std::vector<double> v);
double minimum(const std::vector<double>& v);
// Per implementation: the median / minimum of its samples (-1 where it has none).
void medians(const std::vector<double> (&v)[kImpls], double (&out)[kImpls]);
// Every entry of `v` set to -1 (not measured); set_only: `x` for `k`, -1 for the others.
void set_none(double (&v)[kImpls]) noexcept;
void set_only(double (&v)[kImpls], Impl k, double x) noexcept;
void minima(const std::vector<double> (&v)[kImpls], double (&out)[kImpls]);
// a / b, or -1 when either is not positive (shown as n/a).
double ratio(double a, double b) noexcept;

// "n/a" for negative values (not measured).
std::string fmt(double v, int prec);
std::string json_num(double v, int prec);  // null for negative
std::string json_str(const std::string& s);

// A binary of //benchmarks built beside this one (a data dependency): from the runfiles tree
// under bazel test / run, or next to this binary (run from bazel-bin, as tools/bench does);
// empty if none is executable.
std::string find_bench_binary(const std::string& name);

std::string machine_description();
std::string libuv_version();

// A workload that did not complete correctly: printed at once, and the process exits 1.
void fail(const std::string& what);
int failures() noexcept;

// Command line every suite binary accepts:
//   --smoke          tiny sizes, one repetition: checks the workloads only (no results file)
//   --reps N         repetitions (interleaved raw, raw_uring, netpoll, libuv, asio, ..., raw, ...)
//   --seconds S      length of one timed run
//   --results DIR    where to write <id>.json (default: none)
//   --impl a,b       run only these implementations (profiling; no results file)
struct Options {
  bool smoke = false;
  int reps = 5;
  double seconds = 1.0;
  std::string results_dir;
  ImplSet supported = kAllImpls;  // what this benchmark compares
  ImplSet enabled = kAllImpls;    // supported, and named by --impl (if given)
  std::vector<std::string> rest;  // arguments this parser did not know
  bool all_enabled() const noexcept { return enabled == supported; }
};
// The first implementation --impl left enabled (kRaw if none).
Impl first_enabled(const Options& o) noexcept;
// Parses argv, starting from a benchmark's own --reps / --seconds defaults and the
// implementations it compares; prints usage and exits 2 on a malformed known flag. It also
// sets the columns of table_header / table_row and the members of impls_json to `supported`
// (one benchmark per process).
Options parse_options(int argc, char** argv, const char* usage_extra = "", int default_reps = 5,
                      double default_seconds = 1.0, const ImplSet& supported = kAllImpls);
// For a binary that takes no arguments of its own: exits 2, naming the first unknown one.
void reject_unknown(const Options& o, const char* prog);
// main's return value: 1 after any fail() (saying how many, as `prog`), else 0.
int exit_status(const char* prog);

// Runs `one(impl, rep)` for rep in [0, reps), interleaving the enabled implementations, and
// returns the values per implementation (a disabled one gets -1 entries). Prints a progress
// line per repetition to stderr, labelled `label`.
void interleave(const Options& o, const std::string& label,
                const std::function<double(Impl, int)>& one, std::vector<double> (&out)[kImpls]);

struct Entry {
  std::string id;      // "B1"
  std::string name;    // "ping-pong, 1 TCP connection, 5-byte message, same CPU"
  std::string metric;  // "round trips/s (median of 5 x 1.0 s)"
  std::string unit;    // "round trips/s"
  bool higher_is_better = true;
  double value[kImpls];  // the headline figure per implementation (-1: not measured)
  std::string extra;   // more members, already JSON: "\"min\": {...}, ..." (may be empty)
  Entry() noexcept { set_none(value); }
};
// The JSON object for `e`: a member per compared implementation and the kRatios computed
// (netpoll_over_raw, netpoll_over_libuv, ...).
std::string entry_json(const Entry& e);
// "{"raw": a, "raw_uring": b, "netpoll": c, ...}": one member per compared implementation.
std::string impls_json(const double (&v)[kImpls], int prec);
// Writes <dir>/<id>.json (atomically). Skipped, with a note on stderr, for a smoke run, a
// partial --impl run, or after a failure. Returns false only on a write error.
bool write_entry(const Options& o, const Entry& e);
// One markdown table row: "| label | raw | raw_uring | netpoll | ... | netpoll/raw | ... |", a
// column per compared implementation, then the kRatios among them (blank when !ratios).
std::string table_row(const std::string& label, const double (&v)[kImpls], int prec, bool ratios = true);
std::string table_header(const std::string& title);

}  // namespace netpoll::bench
