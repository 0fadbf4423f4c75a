import FileSupport
import Foundation
import TensorEngine

/// The safetensors file format (Hugging Face): an 8-byte little-endian header length, a JSON
/// header `{name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {...}}`, then the
/// raw little-endian tensor bytes.
///
/// Reads F32, F16 and BF16 (converted to `Float`); writes F32.
public enum Safetensors {
  /// One tensor read from a file, as `Float`s.
  public struct Entry: Sendable {
    public let shape: [Int]
    public let values: [Float]
  }

  /// Every tensor in the file at `path`, by name, and the `__metadata__` strings.
  public static func read(_ path: String) throws(ModelError) -> (tensors: [String: Entry], metadata: [String: String]) {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw .file(.unreadable(path: path, reason: FileManager.default.fileExists(atPath: path) ? "permission denied" : "no such file"))
    }
    func corrupt(_ why: String) -> ModelError { .file(.corrupt(path: path, reason: why)) }
    guard data.count >= 8 else { throw corrupt("shorter than the 8-byte header length") }
    let declaredLength = data.prefix(8).withUnsafeBytes { UInt64(littleEndian: $0.loadUnaligned(as: UInt64.self)) }
    guard declaredLength > 0, declaredLength <= UInt64(data.count - 8) else {
      throw corrupt("header length \(declaredLength) exceeds the file")
    }
    let headerLength = Int(declaredLength)
    let headerData = data.subdata(in: 8..<(8 + headerLength))
    guard let header = (try? JSONSerialization.jsonObject(with: headerData)) as? [String: Any] else {
      throw corrupt("header is not a JSON object")
    }
    let payload = data.count - 8 - headerLength
    var tensors: [String: Entry] = [:]
    var metadata: [String: String] = [:]
    var ranges: [(begin: Int, end: Int, name: String)] = []
    for (name, value) in header {
      if name == "__metadata__" {
        metadata = (value as? [String: String]) ?? [:]
        continue
      }
      guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
        let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int], offsets.count == 2
      else { throw corrupt("entry '\(name)' lacks dtype, shape or data_offsets") }
      let (begin, end) = (offsets[0], offsets[1])
      // The element count, or nil when a dimension is negative or the product overflows.
      let count = shape.reduce(Int?(1)) { product, dimension in
        guard let product, dimension >= 0 else { return nil }
        let (result, overflow) = product.multipliedReportingOverflow(by: dimension)
        return overflow ? nil : result
      }
      let width: Int
      switch dtype {
      case "F32": width = 4
      case "F16", "BF16": width = 2
      default: throw .unsupported("tensor '\(name)' in \(path) has dtype \(dtype); SwiftGPT reads F32, F16 and BF16")
      }
      guard let count, begin >= 0, begin <= end, end <= payload, (end - begin) / width == count,
        (end - begin) % width == 0
      else {
        throw corrupt("tensor '\(name)' has offsets \(offsets) that do not fit its shape \(shape) and the file")
      }
      let values = data.withUnsafeBytes { raw -> [Float] in
        let start = raw.baseAddress! + 8 + headerLength + begin
        return (0..<count).map { i in
          switch dtype {
          case "F32": Float(bitPattern: UInt32(littleEndian: start.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self)))
          case "F16": Float(Float16(bitPattern: UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))))
          default: Float(bitPattern: UInt32(UInt16(littleEndian: start.loadUnaligned(fromByteOffset: 2 * i, as: UInt16.self))) << 16)
          }
        }
      }
      tensors[name] = Entry(shape: shape, values: values)
      ranges.append((begin, end, name))
    }
    // As Python's `safetensors` checks: the tensors tile the data exactly, with no overlap,
    // gap or trailing bytes (a file whose tensors share bytes loads as other weights).
    var next = 0
    for (begin, end, name) in ranges.sorted(by: { ($0.begin, $0.end) < ($1.begin, $1.end) }) {
      guard begin == next else {
        throw corrupt(begin < next ? "tensor '\(name)' overlaps another tensor's bytes" : "bytes \(next)..<\(begin) of the data belong to no tensor")
      }
      next = end
    }
    guard next == payload else { throw corrupt("\(payload - next) bytes after the last tensor belong to no tensor") }
    return (tensors, metadata)
  }

  /// Writes F32 tensors (name, shape, pointer to `shape.product` floats) in the given order,
  /// atomically (temporary file, then rename).
  public static func write(_ path: String, tensors: [(name: String, shape: [Int], data: UnsafePointer<Float>)],
                           metadata: [String: String] = [:]) throws(ModelError) {
    var header = "{"
    if !metadata.isEmpty {
      let items = metadata.sorted { $0.key < $1.key }.map { "\(jsonString($0.key)):\(jsonString($0.value))" }
      header += "\"__metadata__\":{\(items.joined(separator: ","))},"
    }
    var offset = 0
    var items: [String] = []
    for t in tensors {
      let bytes = t.shape.reduce(1, *) * 4
      items.append("\(jsonString(t.name)):{\"dtype\":\"F32\",\"shape\":[\(t.shape.map(String.init).joined(separator: ","))],\"data_offsets\":[\(offset),\(offset + bytes)]}")
      offset += bytes
    }
    header += items.joined(separator: ",") + "}"
    // Pad the header with spaces to a multiple of 8 bytes, as the reference writer does.
    while (header.utf8.count % 8) != 0 { header += " " }
    var out = Data(capacity: 8 + header.utf8.count + offset)
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { out.append(contentsOf: $0) }
    out.append(contentsOf: Array(header.utf8))
    for t in tensors {
      // Float is little-endian on every platform Swift targets on Linux.
      out.append(UnsafeBufferPointer(start: t.data, count: t.shape.reduce(1, *)))
    }
    try fileAccess(ModelError.file) { () throws(FileError) in try writeAtomically(out, to: path) }
  }
}

/// A JSON string literal for `s`.
func jsonString(_ s: String) -> String {
  var out = "\""
  for u in s.unicodeScalars {
    switch u {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case _ where u.value < 0x20: out += "\\u" + String(repeating: "0", count: 4 - String(u.value, radix: 16).count) + String(u.value, radix: 16)
    default: out.unicodeScalars.append(u)
    }
  }
  return out + "\""
}

extension ParameterSet {
  /// Copies every parameter from a safetensors file, by name; extra tensors in the file are
  /// ignored. Files saved by HF `GPT2Model` (no LM head) name tensors without "transformer.".
  public func load(safetensors path: String) throws(ModelError) {
    let (tensors, _) = try Safetensors.read(path)
    try copy(from: path) { tensors[$0] }
  }

  /// Copies every parameter from the weights of a Hugging Face model folder: `model.safetensors`,
  /// or the shards that `model.safetensors.index.json` maps each tensor to (what `save_pretrained`
  /// writes for models above `max_shard_size`).
  public func load(huggingFaceFolder folder: String) throws(ModelError) {
    let single = folder + "/model.safetensors", indexPath = single + ".index.json"
    guard !FileManager.default.fileExists(atPath: single), let data = FileManager.default.contents(atPath: indexPath) else {
      if !FileManager.default.fileExists(atPath: single), FileManager.default.fileExists(atPath: folder + "/pytorch_model.bin") {
        throw .file(.unreadable(path: single, reason: "no such file; the folder's pytorch_model.bin is a pickle, which SwiftGPT does "
          + "not read: save it as safetensors with transformers (model.save_pretrained(folder, safe_serialization=True))"))
      }
      return try load(safetensors: single)
    }
    guard let index = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any],
      let weightMap = index["weight_map"] as? [String: String]
    else { throw .file(.corrupt(path: indexPath, reason: "no 'weight_map' of tensor names to shard files")) }
    var shards: [String: [String: Safetensors.Entry]] = [:]
    for file in Set(weightMap.values).sorted() {
      guard !file.contains("/") else { throw .file(.corrupt(path: indexPath, reason: "shard '\(file)' is not a file in the folder")) }
      shards[file] = try Safetensors.read(folder + "/" + file).tensors
    }
    try copy(from: indexPath) { name in weightMap[name].flatMap { shards[$0]?[name] } }
  }

  /// Copies every parameter from `lookup(name)` (`path` names the source in errors), trying the
  /// name without "transformer." too.
  private func copy(from path: String, _ lookup: (String) -> Safetensors.Entry?) throws(ModelError) {
    precondition(device.gpu == nil, "parameters are loaded on the CPU, then placed on a GPU")
    for entry in entries {
      let short = entry.name.hasPrefix("transformer.") ? String(entry.name.dropFirst("transformer.".count)) : entry.name
      guard let found = lookup(entry.name) ?? lookup(short) else { throw .missingTensor(name: entry.name, path: path) }
      guard found.shape == entry.shape else { throw .shapeMismatch(name: entry.name, expected: entry.shape, found: found.shape) }
      found.values.withUnsafeBufferPointer { (values.base + entry.offset).update(from: $0.baseAddress!, count: entry.count) }
    }
  }

  /// Writes every parameter (F32) to a safetensors file, atomically, from `values` (brought up
  /// to date with `copyToHost()` for parameters on a GPU).
  public func save(safetensors path: String, metadata: [String: String] = ["format": "pt"]) throws(ModelError) {
    try Safetensors.write(path, tensors: entries.map { ($0.name, $0.shape, UnsafePointer(values.base + $0.offset)) },
                          metadata: metadata)
  }
}
