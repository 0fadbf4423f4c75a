import Hummingbird

/// The playground's files (HTML, CSS and JavaScript in `Playground/`, compiled into the binary):
/// served by exact name, so no path reaches anything else. A page is `page.html` around its
/// `NAME.main.html`, with its script `NAME.js`.
let playgroundFiles: [String: (type: String, bytes: [UInt8])] = {
  let html = "text/html; charset=utf-8", javascript = "text/javascript; charset=utf-8"
  let shell = String(decoding: PackageResources.page_html, as: UTF8.self)
  func page(_ name: String, _ title: String, _ main: [UInt8]) -> [UInt8] {
    Array(shell.replacingOccurrences(of: "{{title}}", with: title).replacingOccurrences(of: "{{page}}", with: name)
      .replacingOccurrences(of: "{{main}}", with: String(decoding: main, as: UTF8.self)).utf8)
  }
  return [
    "tokenizer.html": (html, page("tokenizer", "Tokenizer", PackageResources.tokenizer_main_html)),
    "chat.html": (html, page("chat", "Chat", PackageResources.chat_main_html)),
    "dashboard.html": (html, page("dashboard", "Training", PackageResources.dashboard_main_html)),
    "style.css": ("text/css; charset=utf-8", PackageResources.style_css),
    "common.js": (javascript, PackageResources.common_js),
    "tokenizer.js": (javascript, PackageResources.tokenizer_js),
    "chat.js": (javascript, PackageResources.chat_js),
    "dashboard.js": (javascript, PackageResources.dashboard_js),
  ]
}()

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
