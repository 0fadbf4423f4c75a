import Foundation
import Testing
@testable import TensorEngine

/// A leaf tensor of uniform values in [-scale, scale).
func leaf(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
  Tensor(shape: shape, scalars: randomValues(shape.reduce(1, *), seed: seed, scale: scale), requiresGrad: true)
}

/// Compares autograd gradients of Σ w ⊙ f(inputs) (w random) with central finite differences,
/// on up to `probes` elements of every input.
func checkGradients(_ inputs: [Tensor], probes: Int = 24, eps: Float = 1e-2, tolerance: Float = 2e-2,
                    _ f: ([Tensor]) -> Tensor, sourceLocation: SourceLocation = #_sourceLocation) {
  let probe = f(inputs)
  let weights = Tensor(shape: probe.shape, scalars: randomValues(probe.count, seed: 99))
  func loss() -> Tensor { sum(mul(f(inputs), weights)) }
  for x in inputs { x.clearGrad() }
  loss().backward()
  for (which, x) in inputs.enumerated() {
    let analytic = x.grad ?? [Float](repeating: 0, count: x.count)
    let stride = max(1, x.count / probes)
    for i in Swift.stride(from: 0, to: x.count, by: stride) {
      let saved = x.data[i]
      x.data[i] = saved + eps
      let up = withoutGrad { loss().item }
      x.data[i] = saved - eps
      let down = withoutGrad { loss().item }
      x.data[i] = saved
      let numeric = (up - down) / (2 * eps)
      #expect(abs(analytic[i] - numeric) <= tolerance * (1 + abs(numeric)),
              "input \(which) element \(i): autograd \(analytic[i]), finite difference \(numeric)",
              sourceLocation: sourceLocation)
    }
  }
}

@Suite("Gradient checks against finite differences")
struct GradCheckTests {
  @Test func matmulShared() {
    checkGradients([leaf([2, 3, 5], seed: 1), leaf([5, 4], seed: 2)]) { matmul($0[0], $0[1]) }
  }
  @Test func matmulTransposedAndBatched() {
    checkGradients([leaf([2, 3, 5], seed: 3), leaf([4, 5], seed: 4)]) { matmul($0[0], $0[1], transposeB: true) }
    checkGradients([leaf([2, 3, 5], seed: 5), leaf([2, 5, 4], seed: 6)]) { matmul($0[0], $0[1]) }
  }
  @Test func linearWithBias() {
    checkGradients([leaf([3, 7], seed: 7), leaf([7, 5], seed: 8), leaf([5], seed: 9)]) {
      linear($0[0], weight: $0[1], bias: $0[2])
    }
  }
  @Test func addMulScale() {
    checkGradients([leaf([2, 3, 4], seed: 10), leaf([3, 4], seed: 11)]) { add($0[0], $0[1]) }
    checkGradients([leaf([4, 5], seed: 12), leaf([4, 5], seed: 13)]) { mul($0[0], $0[1]) }
    checkGradients([leaf([4, 5], seed: 14)]) { scale($0[0], -2.5) }
  }
  @Test func sumAndMean() {
    checkGradients([leaf([3, 4], seed: 15)]) { sum($0[0]) }
    checkGradients([leaf([3, 4], seed: 16)]) { mean($0[0]) }
  }
  @Test func embeddingLookup() {
    checkGradients([leaf([6, 4], seed: 17)]) { embedding($0[0], ids: [0, 5, 2, 2, 1, 0], shape: [2, 3]) }
  }
  @Test func layerNormAllInputs() {
    checkGradients([leaf([3, 20], seed: 18, scale: 2), leaf([20], seed: 19), leaf([20], seed: 20)], eps: 1e-3) {
      layerNorm($0[0], weight: $0[1], bias: $0[2])
    }
  }
  @Test func geluTanh() {
    checkGradients([leaf([5, 37], seed: 21, scale: 4)], eps: 1e-3) { gelu($0[0]) }
  }
  @Test func softmaxRows() {
    checkGradients([leaf([3, 19], seed: 22, scale: 3)], eps: 1e-3) { softmax($0[0]) }
  }
  @Test func causalAttention() {
    checkGradients([leaf([2, 5, 24], seed: 23)], probes: 60, eps: 1e-3) { causalSelfAttention($0[0], heads: 2) }
    // 70 positions: twelve 6-row query tiles and five 16-key panels, the last of each partial.
    checkGradients([leaf([1, 70, 12], seed: 29)], probes: 80, eps: 1e-3) { causalSelfAttention($0[0], heads: 2) }
  }

  @Test func causalAttentionMatchesNaiveLoops() {
    let (t, c, heads) = (70, 8, 2)
    let hs = c / heads
    let qkv = leaf([1, t, 3 * c], seed: 31)
    let y = withoutGrad { causalSelfAttention(qkv, heads: heads) }.scalars
    let x = qkv.scalars
    var worst: Float = 0
    for h in 0..<heads {
      for i in 0..<t {
        var scores = (0...i).map { j in
          (0..<hs).reduce(Float(0)) { $0 + x[i * 3 * c + h * hs + $1] * x[j * 3 * c + c + h * hs + $1] } / Float(hs).squareRoot()
        }
        let m = scores.max()!
        scores = scores.map { exp($0 - m) }
        let total = scores.reduce(0, +)
        for d in 0..<hs {
          let expected = (0...i).reduce(Float(0)) { $0 + scores[$1] / total * x[$1 * 3 * c + 2 * c + h * hs + d] }
          worst = max(worst, abs(y[i * c + h * hs + d] - expected))
        }
      }
    }
    #expect(worst < 1e-5, "max difference \(worst)")
  }
  @Test func crossEntropyWithIgnoredRows() {
    checkGradients([leaf([2, 3, 7], seed: 24, scale: 3)], eps: 1e-3) {
      crossEntropy($0[0], targets: [1, 6, -100, 0, 3, -100])
    }
  }
  @Test func dropoutIsLinearInItsInput() {
    checkGradients([leaf([4, 9], seed: 25)]) {
      var rng = RandomGenerator(seed: 5)  // the same mask on every evaluation
      return dropout($0[0], p: 0.3, rng: &rng)
    }
  }
  @Test("gradients stay right where add and reshape hand their gradient buffer to an input")
  func gradientBufferHandOver() {
    // x feeds an add twice, a reshape that feeds another add, and a product taken later: the
    // buffer x takes over from one add must still receive the other contributions.
    checkGradients([leaf([2, 6], seed: 31), leaf([2, 6], seed: 32)]) { t in
      let (x, w) = (t[0], t[1])
      let twice = add(x, x)
      let residual = add(reshape(twice, [3, 4]), reshape(mul(x, w), [3, 4]))
      return add(residual, scale(residual, 0.5))
    }
  }
  @Test func shapeOps() {
    checkGradients([leaf([2, 3, 4], seed: 26)]) { reshape($0[0], [4, -1]) }
    checkGradients([leaf([2, 3, 4], seed: 27)]) { transpose($0[0], 0, 2) }
    checkGradients([leaf([2, 5, 3], seed: 28)]) { slice($0[0], axis: 1, 1..<4) }
    checkGradients([leaf([2, 2, 3], seed: 29), leaf([2, 1, 3], seed: 30)]) { concat($0, axis: 1) }
  }
}

@Suite("Op values")
struct OpValueTests {
  @Test func transposeAndConcatValues() {
    let x = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
    #expect(transpose(x, 0, 1).scalars == [1, 4, 2, 5, 3, 6])
    #expect(concat([x, x], axis: 1).scalars == [1, 2, 3, 1, 2, 3, 4, 5, 6, 4, 5, 6])
    #expect(slice(x, axis: 1, 1..<3).scalars == [2, 3, 5, 6])
  }

  @Test func crossEntropyValue() {
    // Uniform logits: loss = ln V for every counted row.
    let logits = Tensor(shape: [3, 4], scalars: [Float](repeating: 0.5, count: 12))
    let loss = crossEntropy(logits, targets: [2, -100, 0]).item
    #expect(abs(loss - logf(4)) < 1e-6)
  }

  @Test func attentionFirstPositionCopiesItsValue() {
    // Row 0 attends only to itself, so y[0] = v[0] for every head.
    let qkv = Tensor(shape: [1, 3, 6], scalars: randomValues(18, seed: 3))
    let y = causalSelfAttention(qkv, heads: 2)
    #expect(Array(y.scalars[0..<2]) == Array(qkv.scalars[4..<6]))
  }

  @Test func dropoutKeepsExpectation() {
    var rng = RandomGenerator(seed: 1)
    let x = Tensor(shape: [10_000], scalars: [Float](repeating: 1, count: 10_000))
    let y = dropout(x, p: 0.25, rng: &rng).scalars
    let zeros = y.filter { $0 == 0 }.count
    #expect((2_200...2_800).contains(zeros))
    #expect(y.allSatisfy { $0 == 0 || abs($0 - 1 / 0.75) < 1e-6 })
  }
}
