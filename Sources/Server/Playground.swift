import Hummingbird

/// The playground's files (HTML, CSS and JavaScript in `Playground/`, compiled into the binary):
/// served by exact name, so no path reaches anything else.
let playgroundFiles: [String: (type: String, bytes: [UInt8])] = [
  "tokenizer.html": ("text/html; charset=utf-8", PackageResources.tokenizer_html),
  "chat.html": ("text/html; charset=utf-8", PackageResources.chat_html),
  "dashboard.html": ("text/html; charset=utf-8", PackageResources.dashboard_html),
  "style.css": ("text/css; charset=utf-8", PackageResources.style_css),
  "common.js": ("text/javascript; charset=utf-8", PackageResources.common_js),
  "tokenizer.js": ("text/javascript; charset=utf-8", PackageResources.tokenizer_js),
  "chat.js": ("text/javascript; charset=utf-8", PackageResources.chat_js),
  "dashboard.js": ("text/javascript; charset=utf-8", PackageResources.dashboard_js),
]

/// Paths the API key does not guard: health and the pages with their assets (the pages ask for
/// the key and send it with their API calls).
func isPublicPath(_ path: String) -> Bool {
  ["/health", "/v1/health", "/", "/chat", "/dashboard"].contains(path) || path.hasPrefix("/assets/")
}

/// The playground file `name`, or a 404.
private func playgroundFile(_ name: String) throws -> Response {
  guard let file = playgroundFiles[name] else { throw HTTPError(.notFound, message: "no such file: \(name)") }
  return Response(status: .ok, headers: [.contentType: file.type, .cacheControl: "no-cache"],
                  body: .init(byteBuffer: ByteBuffer(bytes: file.bytes)))
}

/// Serves `pages` (path → file).
func addPages(_ pages: [String: String], to router: Router<BasicRequestContext>) {
  let file = playgroundFile
  for (path, name) in pages { router.get(RouterPath(path)) { _, _ in try file(name) } }
}

/// Serves the pages' scripts and style, `/assets/FILE`.
func addAssets(to router: Router<BasicRequestContext>) {
  let file = playgroundFile
  router.get("assets/:name") { _, context in try file(context.parameters.get("name") ?? "") }
}
