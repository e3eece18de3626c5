// B3's client parsers on captured sample outputs of wrk --latency and h2load --h1: the
// figures they read, and every way a run counts as not entirely correct.
#include "benchmarks/http_clients.h"

#include <doctest/doctest.h>

#include <string>

using netpoll::bench::H2Result;
using netpoll::bench::WrkResult;
using netpoll::testing::Captured;

namespace {

constexpr int kExit0 = 0;
constexpr int kExit1 = 1 << 8;  // the wait status of exit(1) (Linux's encoding)

const std::string kWrkOk =
    "Running 1s test @ http://127.0.0.1:40000/\n"
    "  1 threads and 50 connections\n"
    "  Thread Stats   Avg      Stdev     Max   +/- Stdev\n"
    "    Latency   368.00us  100.00us   2.00ms   90.00%\n"
    "    Req/Sec    60.00k     2.00k   65.00k    80.00%\n"
    "  Latency Distribution\n"
    "     50%  350.00us\n"
    "     75%  400.00us\n"
    "     90%  450.00us\n"
    "     99%    1.23ms\n"
    "  60000 requests in 1.00s, 7.00MB read\n"
    "Requests/sec:  59950.12\n"
    "Transfer/sec:      7.00MB\n";

const std::string kH2Ok =
    "starting benchmark...\n"
    "spawning thread #0: 50 total client(s). 800 total requests\n"
    "Application protocol: http/1.1\n"
    "progress: 10% done\n"
    "progress: 100% done\n"
    "\n"
    "finished in 11.47ms, 69759.33 req/s, 8.12MB/s\n"
    "requests: 800 total, 800 started, 800 done, 800 succeeded, 0 failed, 0 errored, 0 timeout\n"
    "status codes: 800 2xx, 0 3xx, 0 4xx, 0 5xx\n"
    "traffic: 95.31KB (97600) total, 64.06KB (65600) headers (space savings 0.00%), 10.16KB (10400) data\n"
    "                     min         max         mean         sd        +/- sd\n"
    "time for request:      115us      1.50ms       512us       300us    65.00%\n";

std::string replaced(std::string s, const std::string& from, const std::string& to) {
  s.replace(s.find(from), from.size(), to);
  return s;
}

std::string wrk_error(const Captured& run) {
  WrkResult w;
  return netpoll::bench::parse_wrk(run, &w);
}

std::string h2_error(const Captured& run, std::uint64_t n) {
  H2Result h;
  return netpoll::bench::parse_h2load(run, n, &h);
}

}  // namespace

TEST_CASE("http_clients: command lines") {
  using V = std::vector<std::string>;
  CHECK(netpoll::bench::wrk_argv("http://x/", 3) ==
        V{"wrk", "-t1", "-c50", "-d3s", "--timeout", "10s", "--latency", "http://x/"});
  CHECK(netpoll::bench::h2load_argv("http://x/", 800) == V{"h2load", "--h1", "-c50", "-m16", "-n800", "http://x/"});
}

TEST_CASE("http_clients: durations") {
  CHECK(netpoll::bench::duration_us("368.00us") == doctest::Approx(368));
  CHECK(netpoll::bench::duration_us("1.23ms") == doctest::Approx(1230));
  CHECK(netpoll::bench::duration_us("2.00s") == doctest::Approx(2e6));
  CHECK(netpoll::bench::duration_us("1.5m") == doctest::Approx(90e6));
  CHECK(netpoll::bench::duration_us("12") == -1);
  CHECK(netpoll::bench::duration_us("3h") == -1);
}

TEST_CASE("http_clients: a correct wrk run") {
  WrkResult w;
  CHECK(netpoll::bench::parse_wrk({kExit0, kWrkOk, ""}, &w) == "");
  CHECK(w.rps == doctest::Approx(59950.12));
  CHECK(w.requests == 60000);
  CHECK(w.p50_us == doctest::Approx(350));
  CHECK(w.p99_us == doctest::Approx(1230));
}

TEST_CASE("http_clients: wrk runs that are not entirely correct") {
  const std::string non2xx = replaced(kWrkOk, "Requests/sec:", "  Non-2xx or 3xx responses: 7\nRequests/sec:");
  CHECK(wrk_error({kExit0, non2xx, ""}) == "wrk reported:   Non-2xx or 3xx responses: 7");
  const std::string sock =
      replaced(kWrkOk, "Requests/sec:", "  Socket errors: connect 0, read 1, write 0, timeout 0\nRequests/sec:");
  CHECK(wrk_error({kExit0, sock, ""}) == "wrk reported:   Socket errors: connect 0, read 1, write 0, timeout 0");
  CHECK(wrk_error({kExit1, "", "unable to connect\n"}) == "wrk exited with status 1: unable to connect\n");
  CHECK(wrk_error({netpoll::testing::kTimedOut, "", ""}) == "wrk timed out (killed): ");
  const std::string no_p99 = replaced(kWrkOk, "     99%    1.23ms\n", "");
  CHECK(wrk_error({kExit0, no_p99, ""}).starts_with("wrk output not understood"));
  const std::string none = replaced(kWrkOk, "  60000 requests", "  0 requests");
  CHECK(wrk_error({kExit0, none, ""}).starts_with("wrk output not understood (or no request answered)"));
}

TEST_CASE("http_clients: a correct h2load run") {
  H2Result h;
  CHECK(netpoll::bench::parse_h2load({kExit0, kH2Ok, ""}, 800, &h) == "");
  CHECK(h.rps == doctest::Approx(69759.33));
  // The duration's unit varies.
  CHECK(h2_error({kExit0, replaced(kH2Ok, "11.47ms", "2.01s"), ""}, 800) == "");
}

TEST_CASE("http_clients: h2load runs that are not entirely correct") {
  CHECK(h2_error({kExit0, kH2Ok, ""}, 1000) ==
        "h2load: requests: 800 total, 800 started, 800 done, 800 succeeded, 0 failed, 0 errored, 0 timeout");
  const std::string failed = replaced(kH2Ok, "800 succeeded, 0 failed", "799 succeeded, 1 failed");
  CHECK(h2_error({kExit0, failed, ""}, 800).starts_with("h2load: requests:"));
  const std::string timeout = replaced(kH2Ok, "0 errored, 0 timeout", "0 errored, 2 timeout");
  CHECK(h2_error({kExit0, timeout, ""}, 800).starts_with("h2load: requests:"));
  const std::string codes = replaced(kH2Ok, "800 2xx, 0 3xx, 0 4xx", "799 2xx, 0 3xx, 1 4xx");
  CHECK(h2_error({kExit0, codes, ""}, 800) == "h2load: status codes: 799 2xx, 0 3xx, 1 4xx, 0 5xx");
  const std::string no_codes = replaced(kH2Ok, "status codes: 800 2xx, 0 3xx, 0 4xx, 0 5xx\n", "");
  CHECK(h2_error({kExit0, no_codes, ""}, 800).starts_with("h2load output not understood"));
  CHECK(h2_error({kExit1, "", "connect failed\n"}, 800) == "h2load exited with status 1: connect failed\n");
}
