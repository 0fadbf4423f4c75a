/// A matrix stored in bfloat16 (the upper 16 bits of each Float32, rounded to nearest even):
/// half the bytes of Float32, for memory-bound matrix–vector products computed in Float32.
///
/// Each row of `cols` values (zero-padded to a multiple of 16) is stored as pairs in 32-bit
/// words — word i of a 16-column group holds columns 2i (low half) and 2i+1 (high half) — so an
/// 8-word load widens to the group's 8 even and 8 odd columns with one shift and one mask.
public final class BFloat16Matrix: @unchecked Sendable {
  public let rows: Int
  public let cols: Int
  /// Words per row (padded columns / 2).
  let stride: Int
  let words: UnsafeMutablePointer<UInt32>

  /// Rounds `rows × cols` row-major Float32 values.
  public init(_ values: UnsafePointer<Float>, rows: Int, cols: Int) {
    (self.rows, self.cols) = (rows, cols)
    stride = (cols + 15) / 16 * 8
    words = .allocate(capacity: rows * stride)
    words.initialize(repeating: 0, count: rows * stride)
    for r in 0..<rows {
      for c in 0..<cols {
        let half = UInt32(bfloat16Bits(values[r * cols + c]))
        words[r * stride + (c / 16) * 8 + (c % 16) / 2] |= c % 2 == 0 ? half : half << 16
      }
    }
  }

  deinit { words.deallocate() }

  /// Element (r, c) as stored.
  public subscript(r: Int, c: Int) -> Float {
    let word = words[r * stride + (c / 16) * 8 + (c % 16) / 2]
    return Float(bitPattern: c % 2 == 0 ? word << 16 : word & 0xFFFF_0000)
  }
}

/// The bfloat16 bits of `x`, rounded to nearest even.
func bfloat16Bits(_ x: Float) -> UInt16 {
  let bits = x.bitPattern
  if x.isNaN { return UInt16(bits >> 16) | 0x40 }
  return UInt16((bits &+ 0x7FFF &+ ((bits >> 16) & 1)) >> 16)
}

/// The 8 even and 8 odd columns of one 16-column group.
@inline(__always)
private func widen(_ p: UnsafePointer<UInt32>) -> (even: SIMD8<Float>, odd: SIMD8<Float>) {
  let w = UnsafeRawPointer(p).loadUnaligned(as: SIMD8<UInt32>.self)
  return (unsafeBitCast(w &<< 16, to: SIMD8<Float>.self), unsafeBitCast(w & 0xFFFF_0000, to: SIMD8<Float>.self))
}

/// y (+)= x · B for a bfloat16 matrix, as `sgemv`: `transB` false: B is [k, n] (`rows` k,
/// `cols` n), streamed in blocks of 64 whole rows into partial sums added in block order;
/// true: B is [n, k], each output a dot product with a row.
public func gemv(transB: Bool, x: UnsafePointer<Float>, b: BFloat16Matrix, y: UnsafeMutablePointer<Float>,
                 accumulate: Bool, threads: Int = Parallel.threads) {
  let (k, n) = transB ? (b.cols, b.rows) : (b.rows, b.cols)
  let workers = n * k < 1 << 16 ? 1 : threads
  let (yv, words, stride) = (UncheckedSendable(y), UncheckedSendable(b.words), b.stride)
  if transB {
    // x rearranged like a row: per 16-group, its 8 even then its 8 odd elements.
    let groups = (k + 15) / 16
    let split = Storage(count: groups * 16)
    defer { withExtendedLifetime(split) {} }
    for p in 0..<k { split.base[(p / 16) * 16 + (p % 2 == 0 ? 0 : 8) + (p % 16) / 2] = x[p] }
    let xs = UncheckedSendable(UnsafePointer(split.base))
    Parallel.forEach((n + 15) / 16, threads: workers) { chunk in
      for j in (chunk * 16)..<min(n, chunk * 16 + 16) {
        let row = words.value + j * stride
        var accEven = SIMD8<Float>(), accOdd = SIMD8<Float>()
        for g in 0..<groups {
          let (even, odd) = widen(row + g * 8)
          let xg = UnsafeRawPointer(xs.value + g * 16)
          accEven.addProduct(xg.loadUnaligned(as: SIMD8<Float>.self), even)
          accOdd.addProduct(xg.loadUnaligned(fromByteOffset: 32, as: SIMD8<Float>.self), odd)
        }
        let dot = (accEven + accOdd).sum()
        yv.value[j] = accumulate ? yv.value[j] + dot : dot
      }
    }
    return
  }
  // Partial sums kept per 16-column group as 8 even then 8 odd columns.
  let groups = (n + 15) / 16, width = groups * 16
  let rowsPerBlock = 64
  let blocks = (k + rowsPerBlock - 1) / rowsPerBlock
  let partial = Storage(count: blocks * width)
  defer { withExtendedLifetime(partial) {} }
  let (xv, sums) = (UncheckedSendable(x), UncheckedSendable(partial.base))
  Parallel.forEach(blocks, threads: workers) { block in
    let acc = UnsafeMutableRawPointer(sums.value + block * width)
    for p in (block * rowsPerBlock)..<min(k, (block + 1) * rowsPerBlock) {
      let s = SIMD8<Float>(repeating: xv.value[p])
      let row = words.value + p * stride
      for g in 0..<groups {
        let (even, odd) = widen(row + g * 8)
        var e = acc.loadUnaligned(fromByteOffset: 64 * g, as: SIMD8<Float>.self)
        var o = acc.loadUnaligned(fromByteOffset: 64 * g + 32, as: SIMD8<Float>.self)
        e.addProduct(s, even)
        o.addProduct(s, odd)
        acc.storeBytes(of: e, toByteOffset: 64 * g, as: SIMD8<Float>.self)
        acc.storeBytes(of: o, toByteOffset: 64 * g + 32, as: SIMD8<Float>.self)
      }
    }
  }
  for block in 1..<max(1, blocks) { TensorEngine.accumulate(partial.base + block * width, into: partial.base, count: width) }
  for c in 0..<n {
    let value = partial.base[(c / 16) * 16 + (c % 2 == 0 ? 0 : 8) + (c % 16) / 2]
    y[c] = accumulate ? y[c] + value : value
  }
}
