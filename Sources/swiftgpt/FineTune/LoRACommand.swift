import ArgumentParser
import Foundation
import Models
import Training

/// `swiftgpt lora …`: work with LoRA adapters.
struct LoRACommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "lora", abstract: "Work with LoRA adapters (PEFT format).", subcommands: [Merge.self])

  struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Merge a PEFT LoRA adapter into its base model and write a plain HF GPT-2 folder.",
      discussion: "W += (alpha/r)·(B·A)ᵀ for every adapted Conv1D weight, as PEFT's merge_and_unload.")

    @Option(help: "Base model folder (HF GPT-2 or SwiftGPT).") var checkpoint: String
    @Option(help: "Adapter folder (adapter_config.json + adapter_model.safetensors).") var adapter: String
    @Option(help: "Output folder.") var out: String

    func run() throws {
      let model = try loadGPT(resolveCheckpoint(checkpoint))
      let lora = try LoRAAdapter(peftFolder: adapter, for: model)
      lora.merge(into: model)
      let source = resolveCheckpoint(checkpoint)
      try writeFolderAtomically(out) { folder in
        try model.save(huggingFaceFolder: folder)
        // Keep what makes the folder usable: tokenizer, meta.json, instruction markers; not the
        // base's weights (a single file or shards with their index) or optimizer state.
        let files = (try? FileManager.default.contentsOfDirectory(atPath: source)) ?? []
        for name in files where !(name == "config.json" || name == "optimizer.safetensors"
          || name.hasPrefix("model") && (name.hasSuffix(".safetensors") || name.hasSuffix(".safetensors.index.json"))) {
          if let data = FileManager.default.contents(atPath: source + "/" + name) {
            try writeAtomically(data, to: folder + "/" + name)
          }
        }
      }
      Terminal.error("merged \(lora.parameterCount) adapter parameters into \(out)")
    }
  }
}
