#include "benchmarks/http_clients.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace netpoll::bench {

using netpoll::testing::describe_status;
using netpoll::testing::exited_zero;

std::vector<std::string> wrk_argv(const std::string& url, int secs) {
  // --timeout: wrk counts a response slower than this (default 2 s) as a socket error, which
  // fails the run; a sanitizer build on a busy machine must not trip it.
  return {"wrk", "-t1", "-c" + std::to_string(kConns), "-d" + std::to_string(secs) + "s", "--timeout", "10s",
          "--latency", url};
}
std::vector<std::string> h2load_argv(const std::string& url, std::uint64_t n, int threads) {
  std::vector<std::string> argv = {"h2load", "--h1", "-c" + std::to_string(kConns), "-m" + std::to_string(kPipeline)};
  if (threads != 1) argv.push_back("-t" + std::to_string(threads));
  argv.insert(argv.end(), {"-n" + std::to_string(n), url});
  return argv;
}

std::uint64_t h2load_requests_for(double rate, double seconds) {
  constexpr std::uint64_t unit = kConns * kPipeline, most = 6'000'000;
  return std::clamp<std::uint64_t>(std::uint64_t(rate * seconds) / unit * unit, unit, most);
}

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

std::string parse_wrk(const netpoll::testing::Captured& run, WrkResult* w) {
  if (!exited_zero(run.status)) return "wrk " + describe_status(run.status) + ": " + run.out + run.err;
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

std::string parse_h2load(const netpoll::testing::Captured& run, std::uint64_t n, H2Result* h) {
  if (!exited_zero(run.status)) return "h2load " + describe_status(run.status) + ": " + run.out + run.err;
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

}  // namespace netpoll::bench
