import Foundation
import Testing
@testable import TensorEngine

/// C = op(A)·op(B) in Double, as the reference.
func referenceGemm(_ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float]) -> [Double] {
  var c = [Double](repeating: 0, count: m * n)
  for i in 0..<m {
    for j in 0..<n {
      var s = 0.0
      for p in 0..<k {
        let av = transA ? a[p * m + i] : a[i * k + p]
        let bv = transB ? b[j * k + p] : b[p * n + j]
        s += Double(av) * Double(bv)
      }
      c[i * n + j] = s
    }
  }
  return c
}

func randomValues(_ n: Int, seed: UInt64, scale: Float = 1) -> [Float] {
  var rng = RandomGenerator(seed: seed)
  return (0..<n).map { _ in (rng.nextUniform() * 2 - 1) * scale }
}

@Suite("GEMM")
struct GemmTests {
  // (400, 260, 50) with a transposed A copies it into tiles (`gemmPackTransposedA`).
  static let shapes = [(1, 1, 1), (1, 200, 300), (1, 1030, 77), (7, 17, 5), (6, 16, 384), (13, 33, 400), (150, 70, 777), (97, 4100, 9), (300, 48, 64), (800, 40, 50), (400, 260, 50)]

  /// c (+)= op(a)·op(b) through `sgemm`, with the leading dimensions of dense matrices.
  static func multiply(_ transposes: (Bool, Bool), _ m: Int, _ n: Int, _ k: Int, _ a: [Float], _ b: [Float],
                       into c: inout [Float], accumulate: Bool, threads: Int) {
    a.withUnsafeBufferPointer { ap in
      b.withUnsafeBufferPointer { bp in
        c.withUnsafeMutableBufferPointer { cp in
          sgemm(transA: transposes.0, transB: transposes.1, m: m, n: n, k: k,
                a: ap.baseAddress!, lda: transposes.0 ? m : k, b: bp.baseAddress!, ldb: transposes.1 ? k : n,
                c: cp.baseAddress!, ldc: n, accumulate: accumulate, threads: threads)
        }
      }
    }
  }

  @Test("sgemm matches a Float64 reference for every transpose, shape and thread count",
        arguments: [(false, false), (false, true), (true, false), (true, true)], [1, 2])
  func matchesReference(transposes: (Bool, Bool), threads: Int) {
    for (m, n, k) in Self.shapes {
      let a = randomValues(m * k, seed: UInt64(m * 31 + k)), b = randomValues(k * n, seed: UInt64(n * 17 + k))
      let expected = referenceGemm(transposes.0, transposes.1, m, n, k, a, b)
      // Start from a non-zero C to check both overwrite and accumulate.
      var c = [Float](repeating: 0.5, count: m * n)
      for accumulate in [false, true] {
        Self.multiply(transposes, m, n, k, a, b, into: &c, accumulate: accumulate, threads: threads)
        let factor = accumulate ? 2.0 : 1.0
        let worst = zip(c, expected).map { abs(Double($0) - factor * $1) }.max()!
        #expect(worst <= 1e-4 * Double(k).squareRoot(), "m=\(m) n=\(n) k=\(k) accumulate=\(accumulate): \(worst)")
      }
    }
  }

  @Test("a product of up to gemvMaxRows rows gives each row the bits of its one-row product",
        arguments: [(false, 37, 150), (false, 1030, 77), (false, 48, 384), (true, 37, 150), (true, 200, 300)])
  func fewRowsGiveEachRowItsOwnBits(transB: Bool, n: Int, k: Int) {
    let b = randomValues(n * k, seed: 3)
    for m in 2...gemvMaxRows {
      let a = randomValues(m * k, seed: UInt64(m))
      var together = [Float](repeating: 0, count: m * n)
      Self.multiply((false, transB), m, n, k, a, b, into: &together, accumulate: false, threads: 2)
      for i in 0..<m {
        var alone = [Float](repeating: 0, count: n)
        Self.multiply((false, transB), 1, n, k, Array(a[(i * k)..<((i + 1) * k)]), b, into: &alone, accumulate: false, threads: 1)
        #expect(Array(together[(i * n)..<((i + 1) * n)]).map(\.bitPattern) == alone.map(\.bitPattern), "m \(m), row \(i)")
      }
    }
  }

  @Test("a packed matrix holds the matrix, and its products give sgemv's bits",
        arguments: [(37, 150), (48, 384), (1030, 77), (16, 64)])
  func packedProductsMatchSgemv(n: Int, k: Int) {
    let b = randomValues(k * n, seed: 8)
    for groups in [1, 2, 3] {  // the columns split for 1, 2 or 3 threads: the same bits
      let packed = b.withUnsafeBufferPointer { PackedMatrix($0.baseAddress!, rows: k, cols: n, groups: groups) }
      #expect((0..<k).allSatisfy { p in (0..<n).allSatisfy { packed[p, $0] == b[p * n + $0] } })
      for m in PackedMatrix.rowCounts {  // streamed (up to 4 rows) or tiled, sgemv's bits
        let a = randomValues(m * k, seed: UInt64(m + 40))
        var expected = [Float](repeating: 0, count: m * n)
        Self.multiply((false, false), m, n, k, a, b, into: &expected, accumulate: false, threads: 2)
        var got = [Float](repeating: .nan, count: m * n)
        a.withUnsafeBufferPointer { x in
          got.withUnsafeMutableBufferPointer { gemv(x: x.baseAddress!, rows: m, b: packed, y: $0.baseAddress!, accumulate: false, threads: 2) }
        }
        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "m \(m)")
        // Accumulating: y + the blocks' sums, in sgemv's order.
        let y0 = randomValues(m * n, seed: UInt64(m + 90))
        (expected, got) = (y0, y0)
        Self.multiply((false, false), m, n, k, a, b, into: &expected, accumulate: true, threads: 2)
        a.withUnsafeBufferPointer { x in
          got.withUnsafeMutableBufferPointer { gemv(x: x.baseAddress!, rows: m, b: packed, y: $0.baseAddress!, accumulate: true, threads: 2) }
        }
        #expect(got.map(\.bitPattern) == expected.map(\.bitPattern), "m \(m), accumulating")
      }
    }
  }

  @Test("sgemm gives the same bits on 1 and 2 threads (row- and column-split paths)",
        arguments: [(false, false), (false, true), (true, false), (true, true)])
  func threadCountDoesNotChangeBits(transposes: (Bool, Bool)) {
    // (128, 384, 768) and (97, 4100, 9) split columns on 2 threads, (300, 48, 640) rows.
    for (m, n, k) in [(128, 384, 768), (97, 4100, 9), (300, 48, 640)] {
      let a = randomValues(m * k, seed: 5), b = randomValues(k * n, seed: 6)
      let results = [1, 2].map { threads in
        var c = [Float](repeating: 0.25, count: m * n)
        Self.multiply(transposes, m, n, k, a, b, into: &c, accumulate: true, threads: threads)
        return c
      }
      #expect(results[0] == results[1], "m=\(m) n=\(n) k=\(k)")
    }
  }

  @Test("vsqrt gives the same bits as the scalar square root")
  func vsqrtMatchesScalar() {
    var rng = RandomGenerator(seed: 9)
    let special: [Float] = [0, -0.0, 1, 2, .infinity, .leastNonzeroMagnitude, .greatestFiniteMagnitude, 1e-30, 4, 0.25,
                            .leastNormalMagnitude, 3e38, 7, 1e-8, 123.456, 65536]
    for lanes in [special] + (0..<100).map({ _ in (0..<16).map { _ in Float(exp(Double(rng.nextUniform()) * 160 - 80)) } }) {
      let roots = vsqrt(Float16x(lanes))
      for (x, root) in zip(lanes, (0..<16).map { roots[$0] }) { #expect(root.bitPattern == x.squareRoot().bitPattern, "\(x)") }
    }
    #expect(vsqrt(Float16x(repeating: -1))[3].isNaN)
  }

  @Test("vexp is within 2 ulp of exp over the float range, and clamps outside it")
  func vexpAccuracy() {
    var worst: Float = 0
    var x: Float = -87
    while x < 87.9 {
      let v = vexp(Float16x((0..<16).map { x + Float($0) * 0.0007 }))
      for lane in 0..<16 {
        let exact = Float(exp(Double(x + Float(lane) * 0.0007)))
        worst = max(worst, abs(v[lane] - exact) / exact)
      }
      x += 0.0113
    }
    #expect(worst < 2.5e-7)
    #expect(vexp(Float(-1000)) < 1e-37)
    #expect(vexp(Float(1000)).isFinite)
    #expect(vexp(Float(0)) == 1)
  }
}

@Suite("bfloat16 matrix-vector products")
struct BFloat16Tests {
  @Test("rounding to nearest even, and products equal Float64 sums over the rounded values",
        arguments: [(1, 1), (5, 17), (64, 48), (130, 384), (300, 65)])
  func gemvMatchesReference(rows: Int, cols: Int) {
    var rng = RandomGenerator(seed: UInt64(rows * 1000 + cols))
    let values = (0..<(rows * cols)).map { _ in rng.nextNormal() }
    let matrix = values.withUnsafeBufferPointer { BFloat16Matrix($0.baseAddress!, rows: rows, cols: cols) }
    for r in 0..<rows {
      for c in 0..<cols {
        let v = values[r * cols + c], stored = matrix[r, c]
        #expect(abs(stored - v) <= abs(v) * 0x1p-8, "(\(r), \(c)): \(v) → \(stored)")
      }
    }
    #expect(BFloat16Matrix([1 + 0x1p-8], rows: 1, cols: 1)[0, 0] == 1)  // tie → even
    #expect(BFloat16Matrix([1 + 0x1p-8 + 0x1p-20], rows: 1, cols: 1)[0, 0] == 1 + 0x1p-7)
    for transB in [false, true] {
      let (k, n) = transB ? (cols, rows) : (rows, cols)
      let x = (0..<k).map { _ in rng.nextNormal() }
      var y = [Float](repeating: 0.5, count: n)
      x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { gemv(transB: transB, x: xp.baseAddress!, b: matrix, y: $0.baseAddress!, accumulate: true, threads: 2) }
      }
      for j in 0..<n {
        var sum = 0.5
        for p in 0..<k { sum += Double(x[p]) * Double(transB ? matrix[j, p] : matrix[p, j]) }
        #expect(abs(Double(y[j]) - sum) <= 1e-4 * (1 + abs(sum)), "transB \(transB), y[\(j)]")
      }
    }
  }
}
