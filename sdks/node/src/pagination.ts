// Lists that fetch their next page as they are iterated: `for await (const pi of
// mboa.paymentIntents.list({ limit: 100 }))` walks every page, newest first (with
// `ending_before`, towards newer objects instead). Nothing is fetched before iterating.

export type PageFetcher = (params: Record<string, unknown>) => Promise<{ data: unknown[]; has_more: boolean }>;

export class ListIterator<T> implements AsyncIterable<T> {
  constructor(
    private readonly fetchPage: PageFetcher,
    private readonly params: Record<string, unknown>,
  ) {}

  async *[Symbol.asyncIterator](): AsyncIterator<T> {
    const params = { ...this.params };
    const newer = params.ending_before !== undefined;
    for (;;) {
      const page = await this.fetchPage(params);
      for (const item of page.data) yield item as T;
      if (!page.has_more || page.data.length === 0) return;
      const edge = (newer ? page.data[0] : page.data[page.data.length - 1]) as { id: string };
      if (newer) params.ending_before = edge.id;
      else params.starting_after = edge.id;
    }
  }

  /** Only the first page (one request). */
  async firstPage(): Promise<T[]> {
    return (await this.fetchPage({ ...this.params })).data as T[];
  }

  /** Every object of every page, in one array (mind the size). */
  async toArray(): Promise<T[]> {
    const all: T[] = [];
    for await (const item of this) all.push(item);
    return all;
  }
}
