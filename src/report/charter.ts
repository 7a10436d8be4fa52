import type { TopLevelSpec } from 'vega-lite';
import { figure } from './html.js';
import { renderSvg } from './render.js';

/** Renders charts for one page: unique id prefixes per chart, and a count for the CLI's --json output. */
export class Charter {
  count = 0;
  async figure(spec: TopLevelSpec, caption: string): Promise<string> {
    const svg = await renderSvg(spec, `chart${++this.count}`);
    return figure(svg, caption);
  }
}
