#if canImport(Glibc)
import Glibc
#endif
import FileSupport
import Foundation

/// A file of token ids in llm.c's shard format: a header of 256 little-endian int32
/// (`[0]` magic, `[1]` version, `[2]` token count), then the tokens as uint16 (magic 20240520,
/// version 1, GPT-2 style) or uint32 (magic 20240801, version 7, for vocabularies over 65,536).
///
/// nanoGPT's headerless uint16 `.bin` files are read too.
public struct TokenShard: Sendable {
  public static let headerInts = 256
  public static let headerBytes = headerInts * 4
  public static let magic16: Int32 = 20240520
  public static let magic32: Int32 = 20240801

  /// The file's bytes (memory-mapped), and where the tokens start in them.
  let bytes: Data
  let payloadOffset: Int
  /// Bytes per token: 2 or 4.
  public let tokenWidth: Int
  /// Number of tokens.
  public let count: Int

  /// Opens (memory-maps) a shard; a file without an llm.c header is read as nanoGPT's raw uint16.
  public init(path: String) throws(TrainingError) {
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path), options: .alwaysMapped)
    } catch {
      throw .file(.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "not readable" : "no such file"))
    }
    func int32(_ i: Int) -> Int32 {
      data.withUnsafeBytes { Int32(littleEndian: $0.loadUnaligned(fromByteOffset: 4 * i, as: Int32.self)) }
    }
    let magic = data.count >= Self.headerBytes ? int32(0) : 0
    if magic == Self.magic16 || magic == Self.magic32 {
      let width = magic == Self.magic16 ? 2 : 4
      let count = Int(int32(2))
      guard count >= 0, data.count == Self.headerBytes + width * count else {
        throw .file(.corrupt(path: path, reason: "header says \(count) tokens but the file has \(data.count) bytes"))
      }
      (bytes, payloadOffset, tokenWidth, self.count) = (data, Self.headerBytes, width, count)
    } else {
      guard data.count % 2 == 0 else {
        throw .file(.corrupt(path: path, reason: "no llm.c header, and an odd size for raw uint16 tokens"))
      }
      (bytes, payloadOffset, tokenWidth, count) = (data, 0, 2, data.count / 2)
    }
  }

  /// Token `i`.
  public subscript(i: Int) -> Int32 {
    bytes.withUnsafeBytes { raw in
      tokenWidth == 2
        ? Int32(UInt16(littleEndian: raw.loadUnaligned(fromByteOffset: payloadOffset + 2 * i, as: UInt16.self)))
        : Int32(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: payloadOffset + 4 * i, as: UInt32.self)))
    }
  }

  /// Copies tokens `start..<start+n` into `out`.
  func copy(from start: Int, count n: Int, into out: UnsafeMutablePointer<Int32>) {
    bytes.withUnsafeBytes { raw in
      let p = raw.baseAddress! + payloadOffset
      if tokenWidth == 2 {
        for i in 0..<n { out[i] = Int32(UInt16(littleEndian: p.loadUnaligned(fromByteOffset: 2 * (start + i), as: UInt16.self))) }
      } else {
        for i in 0..<n { out[i] = Int32(bitPattern: UInt32(littleEndian: p.loadUnaligned(fromByteOffset: 4 * (start + i), as: UInt32.self))) }
      }
    }
  }

  /// The llm.c header for `count` tokens of the given width.
  static func header(count: Int, tokenWidth: Int) -> Data {
    var ints = [Int32](repeating: 0, count: headerInts)
    ints[0] = tokenWidth == 2 ? magic16 : magic32
    ints[1] = tokenWidth == 2 ? 1 : 7
    ints[2] = Int32(count)
    return ints.withUnsafeBytes { Data($0) }
  }
}

/// Writes one llm.c token shard incrementally: tokens go to a temporary file, and `finish()`
/// fills in the header's token count and renames the file into place.
final class TokenShardWriter {
  let path: String
  let tokenWidth: Int
  private let temporaryPath: String
  private let handle: FileHandle
  private(set) var count = 0

  init(path: String, tokenWidth: Int) throws(TrainingError) {
    self.path = path
    self.tokenWidth = tokenWidth
    temporaryPath = path + ".tmp"
    guard FileManager.default.createFile(atPath: temporaryPath, contents: TokenShard.header(count: 0, tokenWidth: tokenWidth)),
      let handle = FileHandle(forUpdatingAtPath: temporaryPath)
    else { throw .file(.unwritable(path: path, reason: "cannot create the file")) }
    self.handle = handle
    handle.seekToEndOfFile()
  }

  /// Appends tokens (each must fit the token width).
  func append(_ tokens: ArraySlice<Int>) throws(TrainingError) {
    var data = Data(capacity: tokens.count * tokenWidth)
    if tokenWidth == 2 {
      for t in tokens { withUnsafeBytes(of: UInt16(t).littleEndian) { data.append(contentsOf: $0) } }
    } else {
      for t in tokens { withUnsafeBytes(of: UInt32(t).littleEndian) { data.append(contentsOf: $0) } }
    }
    do { try handle.write(contentsOf: data) } catch { throw .file(.unwritable(path: path, reason: "write failed (disk full?)")) }
    count += tokens.count
  }

  /// Writes the token count into the header and moves the file to `path`.
  func finish() throws(TrainingError) {
    do {
      try handle.seek(toOffset: 0)
      try handle.write(contentsOf: TokenShard.header(count: count, tokenWidth: tokenWidth))
      try handle.close()
    } catch {
      throw .file(.unwritable(path: path, reason: describe(error)))
    }
    try fileAccess(TrainingError.file) { () throws(FileError) in try renameReplacing(temporaryPath, path) }
  }

  /// Removes the temporary file (after a failure).
  func abandon() {
    try? handle.close()
    try? FileManager.default.removeItem(atPath: temporaryPath)
  }
}
