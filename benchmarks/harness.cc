#include "benchmarks/harness.h"

#include <dirent.h>
#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>
#include <time.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace netpoll::bench {

void pin_to_cpu(int cpu) noexcept {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
}

namespace {
double rusage_ns(int who) noexcept {
  rusage ru{};
  getrusage(who, &ru);
  return (double(ru.ru_utime.tv_sec) + double(ru.ru_stime.tv_sec)) * 1e9 +
         (double(ru.ru_utime.tv_usec) + double(ru.ru_stime.tv_usec)) * 1e3;
}
int g_failures = 0;
// The columns of the tables and the members of impls_json: parse_options' `supported`.
ImplSet g_columns = kAllImpls;
}  // namespace

double thread_cpu_ns() noexcept { return rusage_ns(RUSAGE_THREAD); }
double process_cpu_ns() noexcept { return rusage_ns(RUSAGE_SELF); }
double mono_s() noexcept {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) / 1e9;
}
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

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

int open_fd_count() {
  DIR* d = ::opendir("/proc/self/fd");
  if (!d) return -1;
  int n = 0;
  while (const dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n - 1;  // the directory stream's own descriptor
}

double heap_bytes() noexcept {
  const struct mallinfo2 m = ::mallinfo2();
  return double(m.uordblks) + double(m.hblkhd);
}

double median(std::vector<double> v) {
  if (v.empty()) return -1;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
double minimum(const std::vector<double>& v) { return v.empty() ? -1 : *std::min_element(v.begin(), v.end()); }
void medians(const std::vector<double> (&v)[kImpls], double (&out)[kImpls]) {
  for (int k = 0; k < kImpls; ++k) out[k] = median(v[k]);
}
void minima(const std::vector<double> (&v)[kImpls], double (&out)[kImpls]) {
  for (int k = 0; k < kImpls; ++k) out[k] = minimum(v[k]);
}
void set_none(double (&v)[kImpls]) noexcept {
  for (double& x : v) x = -1;
}
void set_only(double (&v)[kImpls], Impl k, double x) noexcept {
  set_none(v);
  v[k] = x;
}
double ratio(double a, double b) noexcept { return a > 0 && b > 0 ? a / b : -1; }

std::string fmt(double v, int prec) {
  if (v < 0) return "n/a";
  char b[64];
  std::snprintf(b, sizeof b, "%.*f", prec, v);
  return b;
}
std::string json_num(double v, int prec) { return v < 0 ? "null" : fmt(v, prec); }

std::string json_str(const std::string& s) {
  std::string o = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\', o += c;
    else if (static_cast<unsigned char>(c) < 0x20) {
      char b[8];
      std::snprintf(b, sizeof b, "\\u%04x", c);
      o += b;
    } else o += c;
  }
  return o + "\"";
}

std::string find_bench_binary(const std::string& name) {
  std::vector<std::string> candidates;
  for (const char* var : {"RUNFILES_DIR", "TEST_SRCDIR"})
    if (const char* d = std::getenv(var)) candidates.push_back(std::string(d) + "/netpoll/benchmarks/" + name);
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    self[n] = 0;
    std::string dir(self);
    dir.resize(dir.rfind('/'));
    candidates.push_back(dir + "/" + name);
    candidates.push_back(std::string(self) + ".runfiles/netpoll/benchmarks/" + name);
  }
  for (const std::string& c : candidates)
    if (::access(c.c_str(), X_OK) == 0) return c;
  return {};
}

std::string machine_description() {
  std::string model;
  std::ifstream cpu("/proc/cpuinfo");
  for (std::string l; std::getline(cpu, l);)
    if (l.rfind("model name", 0) == 0) {
      model = l.substr(l.find(':') + 2);
      break;
    }
  utsname u{};
  uname(&u);
  return std::to_string(std::thread::hardware_concurrency()) + " CPUs" +
         (model.empty() ? "" : " (" + model + ")") + ", " + u.sysname + " " + u.release;
}

std::string libuv_version() { return uv_version_string(); }

void fail(const std::string& what) {
  std::fprintf(stderr, "WORKLOAD FAILED: %s\n", what.c_str());
  ++g_failures;
}
int failures() noexcept { return g_failures; }

Options parse_options(int argc, char** argv, const char* usage_extra, int default_reps, double default_seconds,
                      const ImplSet& supported) {
  Options o;
  o.reps = default_reps;
  o.seconds = default_seconds;
  ImplSet have = supported;
#ifndef NETPOLL_BENCH_HAVE_URING
  have[kNetpollUring] = false;  // this build's netpoll has no io_uring backend
#endif
  o.supported = o.enabled = g_columns = have;
  auto usage = [&] {
    std::string names;
    for (int k = 0; k < kImpls; ++k)
      if (have[k]) names += (names.empty() ? "" : ",") + std::string(kImplName[k]);
    std::fprintf(stderr, "usage: %s [--smoke] [--reps N] [--seconds S] [--results DIR] [--impl %s]%s\n", argv[0],
                 names.c_str(), usage_extra);
    std::exit(2);
  };
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) usage();
      return argv[++i];
    };
    if (a == "--smoke") o.smoke = true;
    else if (a == "--reps") o.reps = std::max(1, std::atoi(next().c_str()));
    else if (a == "--seconds") o.seconds = std::max(0.01, std::atof(next().c_str()));
    else if (a == "--results") o.results_dir = next();
    else if (a == "--impl") {
      const std::string list = "," + next() + ",";
      for (int k = 0; k < kImpls; ++k)
        o.enabled[k] = have[k] && list.find(std::string(",") + kImplName[k] + ",") != std::string::npos;
    } else if (a == "-h" || a == "--help") usage();
    else o.rest.push_back(a);
  }
  if (o.smoke) o.reps = 1;
  return o;
}

Impl first_enabled(const Options& o) noexcept {
  for (int k = 0; k < kImpls; ++k)
    if (o.enabled[k]) return static_cast<Impl>(k);
  return kRaw;
}

void reject_unknown(const Options& o, const char* prog) {
  if (o.rest.empty()) return;
  std::fprintf(stderr, "%s: unknown argument %s\n", prog, o.rest[0].c_str());
  std::exit(2);
}

int exit_status(const char* prog) {
  if (g_failures == 0) return 0;
  std::fprintf(stderr, "%s: %d workload(s) failed\n", prog, g_failures);
  return 1;
}

void interleave(const Options& o, const std::string& label,
                const std::function<double(Impl, int)>& one, std::vector<double> (&out)[kImpls]) {
  for (int r = 0; r < o.reps; ++r) {
    std::fprintf(stderr, "  [%s %d/%d]", label.c_str(), r + 1, o.reps);
    for (int k = 0; k < kImpls; ++k) {
      const double v = o.enabled[k] ? one(static_cast<Impl>(k), r) : -1;
      out[k].push_back(v);
      if (o.enabled[k]) std::fprintf(stderr, " %s %s", kImplName[k], fmt(v, v < 100 ? 2 : 0).c_str());
    }
    std::fprintf(stderr, "\n");
  }
}

namespace {
bool ratio_shown(const RatioPair& r) noexcept { return g_columns[r.of] && g_columns[r.to]; }
std::string ratio_key(const RatioPair& r) { return std::string(kImplName[r.of]) + "_over_" + kImplName[r.to]; }
}  // namespace

std::string impls_json(const double (&v)[kImpls], int prec) {
  std::string s;
  for (int k = 0; k < kImpls; ++k)
    if (g_columns[k]) s += (s.empty() ? "{" : ", ") + json_str(kImplName[k]) + ": " + json_num(v[k], prec);
  return s + "}";
}

std::string entry_json(const Entry& e) {
  const double* v = e.value;
  // For lower-is-better metrics (ns/op) the ratio is still netpoll/other of the metric; the
  // report reads higher_is_better to say which way is a win.
  std::string s = "{\"id\": " + json_str(e.id) + ", \"name\": " + json_str(e.name) +
                  ", \"metric\": " + json_str(e.metric) + ", \"unit\": " + json_str(e.unit) +
                  ", \"higher_is_better\": " + (e.higher_is_better ? "true" : "false");
  for (int k = 0; k < kImpls; ++k)
    if (g_columns[k]) s += ", " + json_str(kImplName[k]) + ": " + json_num(v[k], 3);
  for (const RatioPair& r : kRatios)
    if (ratio_shown(r)) s += ", " + json_str(ratio_key(r)) + ": " + json_num(ratio(v[r.of], v[r.to]), 4);
  if (!e.extra.empty()) s += ", " + e.extra;
  return s + "}";
}

bool write_entry(const Options& o, const Entry& e) {
  if (o.results_dir.empty()) return true;
  const char* why = o.smoke ? "smoke run" : !o.all_enabled() ? "not every implementation ran"
                    : g_failures ? "a workload failed" : nullptr;
  if (why) {
    std::fprintf(stderr, "  %s: not writing results (%s)\n", e.id.c_str(), why);
    return true;
  }
  const std::string path = o.results_dir + "/" + e.id + ".json";
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    f << entry_json(e) << "\n";
    if (!f.flush()) return false;
  }
  return std::rename(tmp.c_str(), path.c_str()) == 0;
}

std::string table_header(const std::string& title) {
  std::string s = "| " + title + " |", rule = "|---|";
  for (int k = 0; k < kImpls; ++k)
    if (g_columns[k]) s += std::string(" ") + kImplName[k] + " |", rule += "---:|";
  for (const RatioPair& r : kRatios)
    if (ratio_shown(r)) s += std::string(" ") + kImplName[r.of] + "/" + kImplName[r.to] + " |", rule += "---:|";
  return s + "\n" + rule + "\n";
}

std::string table_row(const std::string& label, const double (&v)[kImpls], int prec, bool ratios) {
  std::string s = "| " + label + " |";
  for (int k = 0; k < kImpls; ++k)
    if (g_columns[k]) s += " " + fmt(v[k], prec) + " |";
  for (const RatioPair& r : kRatios)
    if (ratio_shown(r)) s += ratios ? " " + fmt(ratio(v[r.of], v[r.to]), 3) + " |" : std::string("  |");
  return s + "\n";
}

}  // namespace netpoll::bench
