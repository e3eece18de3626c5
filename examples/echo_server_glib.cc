// echo_server_glib [address]: echo_server with a GLib main loop owning the thread: the Loop
// is stepped by the GLib adapter (netpoll/adapters/glib.h). Same output, same shutdown.
#include <glib.h>

#include "examples/echo.h"
#include "examples/serve.h"
#include "netpoll/adapters/glib.h"

int main(int argc, char** argv) {
  using namespace netpoll;
  return examples::run_server(
      "echo_server_glib", argc, argv, [](net::Conn& c) { return examples::echo(c); },
      [](net::Loop& loop, net::Task<void> server) {
        adapters::GlibDriver driver(loop);  // on the default main context
        bool ended = false;
        examples::spawn_flagged(loop, std::move(server), ended);
        while (!ended) g_main_context_iteration(nullptr, TRUE);  // other GLib sources run too
        driver.detach();
        return 0;
      });
}
