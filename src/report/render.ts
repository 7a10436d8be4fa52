import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';

/** A loader that refuses every request: report charts carry their data inline, so any fetch is a bug. */
const noNetwork = {
  ...vega.loader(),
  load: async (uri: string) => {
    throw new Error(`chart tried to load ${uri}; report charts must be self-contained`);
  },
  sanitize: async (uri: string) => {
    throw new Error(`chart tried to load ${uri}; report charts must be self-contained`);
  },
} as unknown as vega.Loader;

/**
 * Renders a vega-lite spec to an SVG string server-side (no canvas: vega's headless View with renderer 'none').
 * Element ids (clip paths, gradients) are prefixed with `idPrefix`, because several SVGs inlined in one page
 * share one id namespace and vega numbers its ids from 1 in every chart.
 */
export async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  const vgSpec = compile(spec).spec;
  const view = new vega.View(vega.parse(vgSpec), { renderer: 'none', loader: noNetwork, logLevel: vega.Warn });
  try {
    const svg = await view.toSVG();
    return prefixIds(svg, idPrefix);
  } finally {
    view.finalize();
  }
}

export function prefixIds(svg: string, prefix: string): string {
  return svg
    .replace(/\bid="([^"]+)"/g, (_, id: string) => `id="${prefix}-${id}"`)
    .replace(/url\(#([^)]+)\)/g, (_, id: string) => `url(#${prefix}-${id})`)
    .replace(/href="#([^"]+)"/g, (_, id: string) => `href="#${prefix}-${id}"`);
}
