import Synchronization

/// A 64-byte-aligned buffer of `Float`s. Large buffers go back to a pool when released, so a
/// training loop that allocates the same activation shapes every step does not fault fresh pages
/// in each time.
///
/// A GPU tensor's storage holds device memory instead (`gpu`; see `Device`).
public final class Storage: @unchecked Sendable {
  /// Number of floats.
  public let count: Int
  /// The first float in host memory. Valid while the storage is alive; not for GPU storage.
  public let base: UnsafeMutablePointer<Float>
  /// The device memory of a GPU storage, nil on the CPU.
  public let gpu: GPUMemory?

  /// Allocates `count` floats, set to zero when `zeroed`, otherwise uninitialised.
  public init(count: Int, zeroed: Bool = true) {
    self.count = count
    base = BufferPool.shared.take(count)
    gpu = nil
    if zeroed { base.update(repeating: 0, count: count) }
  }

  /// Storage in GPU memory.
  init(gpu: GPUMemory, count: Int) {
    self.count = count
    self.gpu = gpu
    // Never dereferenced: an address no mapping holds, so a CPU op handed GPU storage faults.
    base = UnsafeMutablePointer(bitPattern: 64)!
  }

  deinit { if gpu == nil { BufferPool.shared.give(base, count) } }
}

/// Size-keyed free lists for buffers of at least `minimumPooled` floats, capped in total size.
final class BufferPool: Sendable {
  static let shared = BufferPool()
  private static let minimumPooled = 1 << 10
  private static let capacityFloats = 1 << 30  // 4 GiB
  private struct State {
    var free: [Int: [UInt]] = [:]  // addresses, by size
    var pooled = 0
  }
  private let state = Mutex(State())

  func take(_ count: Int) -> UnsafeMutablePointer<Float> {
    if count >= Self.minimumPooled,
      let address = state.withLock({ s -> UInt? in
        guard let address = s.free[count]?.popLast() else { return nil }
        s.pooled -= count
        return address
      }),
      let p = UnsafeMutablePointer<Float>(bitPattern: address)
    {
      return p
    }
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(1, count) * 4, alignment: 64)
    return raw.bindMemory(to: Float.self, capacity: max(1, count))
  }

  func give(_ p: UnsafeMutablePointer<Float>, _ count: Int) {
    if count >= Self.minimumPooled {
      let address = UInt(bitPattern: p)
      let kept = state.withLock { s -> Bool in
        guard s.pooled + count <= Self.capacityFloats else { return false }
        s.free[count, default: []].append(address)
        s.pooled += count
        return true
      }
      if kept { return }
    }
    UnsafeMutableRawPointer(p).deallocate()
  }
}
