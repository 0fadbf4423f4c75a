import FileSupport

// The file helpers of `FileSupport`, throwing `TokenizerError` for the typed-throws API.

/// A whole UTF-8 text file (`FileSupport.readTextFile`).
func readText(_ path: String) throws(TokenizerError) -> String {
  try fileAccess(TokenizerError.file) { () throws(FileError) in try readTextFile(path) }
}

/// Writes `text` atomically (`FileSupport.writeFileAtomically`).
func writeText(_ path: String, _ text: String) throws(TokenizerError) {
  try fileAccess(TokenizerError.file) { () throws(FileError) in try writeFileAtomically(path, text) }
}
