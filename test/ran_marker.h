// Proof that a test program ran to its end, for runners that cannot tell otherwise: under wine
// a program that never started can still leave a zero exit status. tools/wine_run.sh names a
// file in NETPOLL_TEST_RAN_FILE and fails a zero exit that did not write it. A test with its own
// main() either returns report_ran(rc) or, if it cannot call it (a README snippet), links
// //test:ran_at_exit.
#pragma once

#include <cstdio>
#include <cstdlib>

namespace netpoll::testing {

// Writes text to $NETPOLL_TEST_RAN_FILE when that is set.
inline void write_ran_marker(const char* text) {
  if (const char* path = std::getenv("NETPOLL_TEST_RAN_FILE"); path && *path) {
    if (std::FILE* f = std::fopen(path, "w")) {
      std::fputs(text, f);
      std::fclose(f);
    }
  }
}

// Returns rc, after writing it to $NETPOLL_TEST_RAN_FILE when that is set.
inline int report_ran(int rc) {
  char text[16];
  std::snprintf(text, sizeof text, "%d\n", rc);
  write_ran_marker(text);
  return rc;
}

}  // namespace netpoll::testing
