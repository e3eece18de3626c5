// What every suite benchmark (B1-B9, docs/benchmarks.md) shares: CPU pinning and time, statistics,
// the interleaved repetition loop, formatting, and the result entry each one writes.
//
// Results: each benchmark writes one JSON object to <results dir>/<id>.json (one line, the
// shape of an element of latest.json's "benchmarks" array). benchmarks/report assembles them
// into latest.json, a markdown summary and the ratio chart. So a subset run (--only) replaces
// only its own entries, and no benchmark parses another's output.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace netpoll::bench {

enum Impl : int { kRaw, kNetpoll, kLibuv, kImpls };
inline constexpr const char* kImplName[kImpls] = {"raw", "netpoll", "libuv"};

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

double median(std::vector<double> v);
double minimum(const std::vector<double>& v);
// Per implementation: the median / minimum of its samples (-1 where it has none).
void medians(const std::vector<double> (&v)[kImpls], double (&out)[kImpls]);
void minima(const std::vector<double> (&v)[kImpls], double (&out)[kImpls]);
// a / b, or -1 when either is not positive (shown as n/a).
double ratio(double a, double b) noexcept;

// "n/a" for negative values (not measured).
std::string fmt(double v, int prec);
std::string json_num(double v, int prec);  // null for negative
std::string json_str(const std::string& s);

std::string machine_description();
std::string libuv_version();

// A workload that did not complete correctly: printed at once, and the process exits 1.
void fail(const std::string& what);
int failures() noexcept;

// Command line every suite binary accepts:
//   --smoke          tiny sizes, one repetition: checks the workloads only (no results file)
//   --reps N         repetitions (interleaved raw, netpoll, libuv, raw, ...)
//   --seconds S      length of one timed run
//   --results DIR    where to write <id>.json (default: none)
//   --impl a,b       run only these implementations (profiling; no results file)
struct Options {
  bool smoke = false;
  int reps = 5;
  double seconds = 1.0;
  std::string results_dir;
  bool enabled[kImpls] = {true, true, true};
  std::vector<std::string> rest;  // arguments this parser did not know
  bool all_enabled() const noexcept { return enabled[kRaw] && enabled[kNetpoll] && enabled[kLibuv]; }
};
// The first implementation --impl left enabled (kRaw if none).
Impl first_enabled(const Options& o) noexcept;
// Parses argv, starting from a benchmark's own --reps / --seconds defaults; prints usage and
// exits 2 on a malformed known flag.
Options parse_options(int argc, char** argv, const char* usage_extra = "", int default_reps = 5,
                      double default_seconds = 1.0);
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
  double value[kImpls] = {-1, -1, -1};  // the headline figure per implementation
  std::string extra;   // more members, already JSON: "\"min\": {...}, ..." (may be empty)
};
// The JSON object for `e`, with netpoll_over_libuv and netpoll_over_raw computed.
std::string entry_json(const Entry& e);
// "{"raw": a, "netpoll": b, "libuv": c}"
std::string triple_json(const double (&v)[kImpls], int prec);
// Writes <dir>/<id>.json (atomically). Skipped, with a note on stderr, for a smoke run, a
// partial --impl run, or after a failure. Returns false only on a write error.
bool write_entry(const Options& o, const Entry& e);
// One markdown table row: "| label | raw | netpoll | libuv | netpoll/raw | netpoll/libuv |".
std::string table_row(const std::string& label, const double (&v)[kImpls], int prec, bool ratios = true);
std::string table_header(const std::string& title);

}  // namespace netpoll::bench
